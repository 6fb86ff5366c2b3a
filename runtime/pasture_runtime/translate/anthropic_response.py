"""Ollama chat results -> Anthropic Messages responses and stream events
(anthropic/anthropic.go: ToMessagesResponse, StreamConverter, NewError).
Pure: ids and counts come in as arguments."""

from __future__ import annotations

import json
from typing import Any

Event = tuple[str, dict[str, Any]]  # (SSE event name, data)

# Ollama's NewError: the error `type` by HTTP status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error object; the SDK raises the exception class by status."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def stop_reason(done_reason: str | None, called: bool) -> str | None:
    """Ollama's done_reason -> Anthropic's stop_reason (mapStopReason)."""
    if called:
        return "tool_use"
    if done_reason == "stop":
        return "end_turn"
    if done_reason == "length":
        return "max_tokens"
    return "stop_sequence" if done_reason else None


def _tool_use(call: dict[str, Any], empty: bool = False) -> dict[str, Any]:
    fn = call.get("function") or {}
    args = {} if empty else fn.get("arguments") or {}
    return {
        "type": "tool_use",
        "id": call.get("id") or "",
        "name": fn.get("name", ""),
        "input": args,
    }


def usage(final: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": int(final.get("prompt_eval_count") or 0),
        "output_tokens": int(final.get("eval_count") or 0),
    }


def message(ident: str, model: str, final: dict[str, Any]) -> dict[str, Any]:
    """The whole (non-streamed) reply from Ollama's final chat object."""
    msg = final.get("message") or {}
    content: list[dict[str, Any]] = []
    if msg.get("thinking"):
        content.append({"type": "thinking", "thinking": msg["thinking"], "signature": ""})
    if msg.get("content"):
        content.append({"type": "text", "text": msg["content"]})
    calls = msg.get("tool_calls") or []
    content.extend(_tool_use(c) for c in calls)
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(final.get("done_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": usage(final),
    }


def _stop(index: int) -> Event:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _start(index: int, block: dict[str, Any]) -> Event:
    event = {"type": "content_block_start", "index": index, "content_block": block}
    return "content_block_start", event


class StreamConverter:
    """Ollama chat chunks -> Anthropic stream events, as Ollama's StreamConverter:
    a thinking block, then a text block, then one block per tool call (its
    input whole in one `input_json_delta`); `message_delta` with the stop
    reason and usage, then `message_stop`."""

    def __init__(self, ident: str, model: str, input_tokens: int) -> None:
        self.ident = ident
        self.model = model
        self.input_tokens = input_tokens  # the prompt's tokens, known before generation
        self._started = False
        self._index = 0
        self._open: str | None = None  # "thinking" | "text": the block being streamed
        self._thought = False  # a thinking block was closed: no second one
        self._calls = 0

    def _message_start(self) -> Event:
        message: dict[str, Any] = {
            "id": self.ident, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }  # fmt: skip
        return "message_start", {"type": "message_start", "message": message}

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._thought = self._thought or self._open == "thinking"
        self._open = None
        self._index += 1
        return [_stop(self._index - 1)]

    def _stream(self, kind: str, text: str) -> list[Event]:
        """A thinking_delta or text_delta, opening its block first."""
        events = []
        if self._open != kind:
            events.extend(self._close())
            self._open = kind
            block = {"type": kind, kind: ""}
            if kind == "thinking":
                block["signature"] = ""  # the SDK's ThinkingBlock has one
            events.append(_start(self._index, block))
        events.append(_delta(self._index, {"type": f"{kind}_delta", kind: text}))
        return events

    def _call(self, call: dict[str, Any]) -> list[Event]:
        events = self._close()
        args = json.dumps((call.get("function") or {}).get("arguments") or {})
        events.append(_start(self._index, _tool_use(call, empty=True)))
        events.append(_delta(self._index, {"type": "input_json_delta", "partial_json": args}))
        events.append(_stop(self._index))
        self._index += 1
        self._calls += 1
        return events

    def process(self, chunk: dict[str, Any]) -> list[Event]:
        """The events of one Ollama chat chunk (the final one ends the message)."""
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(self._message_start())
        msg = chunk.get("message") or {}
        if msg.get("thinking") and not self._thought:
            events.extend(self._stream("thinking", msg["thinking"]))
        if msg.get("content"):
            events.extend(self._stream("text", msg["content"]))
        for call in msg.get("tool_calls") or []:
            events.extend(self._call(call))
        if chunk.get("done"):
            events.extend(self._close())
            reason = stop_reason(chunk.get("done_reason"), self._calls > 0)
            delta = {"stop_reason": reason, "stop_sequence": None}
            end = {"type": "message_delta", "delta": delta, "usage": usage(chunk)}
            events.append(("message_delta", end))
            events.append(("message_stop", {"type": "message_stop"}))
        return events

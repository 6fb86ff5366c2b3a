"""Ollama chat results -> OpenAI Responses objects and stream events
(openai/responses.go: ToResponse, ResponsesStreamConverter). Pure: ids and
times come in as arguments; item ids derive from the response id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..protocol import responses as r

Event = tuple[str, dict[str, Any]]  # (SSE event name, data)


@dataclass(frozen=True)
class Ids:
    """One response's ids: `resp_<hex>`, its message item's, and the derived ones."""

    response: str
    created_at: int

    @property
    def _hex(self) -> str:
        return self.response.removeprefix("resp_")

    @property
    def message(self) -> str:
        return f"msg_{self._hex}"

    @property
    def reasoning(self) -> str:
        return f"rs_{self._hex}"

    def call(self, i: int) -> str:
        return f"fc_{self._hex}_{i}"


def _text_format(req: r.ResponsesRequest) -> dict[str, Any]:
    fmt = (req.text or {}).get("format")
    return dict(fmt) if isinstance(fmt, dict) and fmt.get("type") else {"type": "text"}


def _reasoning(req: r.ResponsesRequest) -> dict[str, Any] | None:
    if req.reasoning is None or not (req.reasoning.effort or req.reasoning.summary):
        return None
    return {"effort": req.reasoning.effort, "summary": req.reasoning.summary}


def response_object(
    req: r.ResponsesRequest,
    ids: Ids,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The response object (buildResponseObject), with Ollama's defaults for
    what it does not do (no storage, no background, no tool-call limits)."""
    return {
        "id": ids.response, "object": "response", "created_at": ids.created_at,
        "completed_at": completed_at, "status": status, "incomplete_details": None,
        "model": req.model, "previous_response_id": None,
        "instructions": req.instructions or None, "output": output, "error": None,
        "tools": req.tools or [], "tool_choice": "auto",
        "truncation": req.truncation or "disabled", "parallel_tool_calls": True,
        "text": {"format": _text_format(req)},
        "top_p": 1.0 if req.top_p is None else req.top_p,
        "presence_penalty": 0, "frequency_penalty": 0, "top_logprobs": 0,
        "temperature": 1.0 if req.temperature is None else req.temperature,
        "reasoning": _reasoning(req), "usage": usage,
        "max_output_tokens": req.max_output_tokens, "max_tool_calls": None,
        "store": False, "background": bool(req.background), "service_tier": "default",
        "metadata": {}, "safety_identifier": None, "prompt_cache_key": None,
    }  # fmt: skip


def usage(final: dict[str, Any]) -> dict[str, Any]:
    prompt, out = int(final.get("prompt_eval_count") or 0), int(final.get("eval_count") or 0)
    return {
        "input_tokens": prompt,
        "output_tokens": out,
        "total_tokens": prompt + out,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def reasoning_item(ident: str, thinking: str) -> dict[str, Any]:
    # The trace in plain text as encrypted_content too, so a client that sends
    # it back (stateless multi-turn) gives the model its own reasoning (as Ollama).
    summary = [{"type": "summary_text", "text": thinking}]
    return {"id": ident, "type": "reasoning", "summary": summary, "encrypted_content": thinking}


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(ident: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [output_text_part(text)] if status == "completed" else []
    return {
        "id": ident,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def call_item(ident: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    args = json.dumps(fn.get("arguments") or {}) if status == "completed" else ""
    return {
        "id": ident, "type": "function_call", "status": status,
        "call_id": call.get("id") or "", "name": fn.get("name", ""), "arguments": args,
    }  # fmt: skip


def response(req: r.ResponsesRequest, ids: Ids, final: dict[str, Any], now: int) -> dict[str, Any]:
    """The whole (non-streamed) response from Ollama's final chat object: a
    reasoning item, then the function calls or else the message (ToResponse)."""
    msg = final.get("message") or {}
    output = []
    if msg.get("thinking"):
        output.append(reasoning_item(ids.reasoning, msg["thinking"]))
    calls = msg.get("tool_calls") or []
    output.extend(call_item(ids.call(i), c) for i, c in enumerate(calls))
    if not calls:
        output.append(message_item(ids.message, msg.get("content") or ""))
    return response_object(req, ids, "completed", output, usage(final), now)

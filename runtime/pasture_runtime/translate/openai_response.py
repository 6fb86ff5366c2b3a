"""Ollama results -> OpenAI responses: the final object or the streamed chunks
of /api/chat and /api/generate reshaped into OpenAI's chat.completion,
text_completion and their chunks (openai_request.py translates the requests).

Pure: the response id and its `created` time come in (the router makes them),
so the same input always gives the same output."""

from __future__ import annotations

import json
from typing import Any

from . import logprobs as lp


def finish_reason(done_reason: str | None, tool_calls: bool) -> str:
    if tool_calls:
        return "tool_calls"
    return "length" if done_reason == "length" else "stop"


def usage(final: dict[str, Any]) -> dict[str, int]:
    prompt = int(final.get("prompt_eval_count") or 0)
    completion = int(final.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def sum_usage(usages: list[dict[str, int]]) -> dict[str, int]:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: sum(u[k] for u in usages) for k in keys}


def tool_calls(message: dict[str, Any], stream: bool) -> list[dict[str, Any]]:
    """Ollama tool calls (arguments object) -> OpenAI's (arguments JSON string).
    A streamed call's `index` is its place in the whole message (Ollama's
    `function.index`, as its openai.go): calls arrive a chunk at a time. A
    call without an id gets `call_<index>`, as translate/tool_calls.py names
    them (every call the runtime makes has one already)."""
    out = []
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = call["function"]
        index = fn.get("index")
        index = index if isinstance(index, int) else i
        item: dict[str, Any] = {
            "id": call.get("id") or f"call_{index}",
            "type": "function",
            "function": {"name": fn["name"], "arguments": json.dumps(fn.get("arguments") or {})},
        }
        if stream:
            item["index"] = index
        out.append(item)
    return out


def chat_completion(ident: str, model: str, created: int, final: dict[str, Any]) -> dict[str, Any]:
    """A whole chat.completion from the final Ollama chat object."""
    msg = final.get("message") or {}
    calls = tool_calls(msg, stream=False)
    message: dict[str, Any] = {"role": "assistant", "content": msg.get("content") or None}
    if calls:
        message["tool_calls"] = calls
    if msg.get("thinking"):
        # `reasoning` (vLLM, Ollama) and the older `reasoning_content` spelling.
        message["reasoning"] = message["reasoning_content"] = msg["thinking"]
    if message["content"] is None and not calls:
        message["content"] = ""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(final.get("done_reason"), bool(calls)),
                "logprobs": lp.openai_chat_logprobs(final.get("logprobs")),
            }
        ],
        "usage": usage(final),
    }


def chat_chunk(
    ident: str,
    model: str,
    created: int,
    delta: dict[str, Any],
    finish: str | None = None,
    with_usage: bool = False,
    logprobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One chat.completion.chunk (`logprobs`: the Ollama chunk's, if any)."""
    choice = {
        "index": 0,
        "delta": delta,
        "finish_reason": finish,
        "logprobs": lp.openai_chat_logprobs(logprobs),
    }
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    if with_usage:
        body["usage"] = None  # only the last (usage) chunk carries numbers
    return body


def chat_delta(chunk: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI delta for one streamed (not final) Ollama chat chunk."""
    msg = chunk.get("message") or {}
    delta: dict[str, Any] = {}
    if msg.get("content"):
        delta["content"] = msg["content"]
    if msg.get("thinking"):
        delta["reasoning"] = delta["reasoning_content"] = msg["thinking"]
    calls = tool_calls(msg, stream=True)
    if calls:
        delta["tool_calls"] = calls
    return delta


def split_delta(delta: dict[str, Any]) -> list[dict[str, Any]]:
    """A delta with both reasoning and an answer (content or calls) as two, the
    reasoning first, as Ollama's openai.go ToStreamChunks sends them (clients
    that show one or the other per chunk lose nothing)."""
    trace = {k: v for k, v in delta.items() if k in ("reasoning", "reasoning_content")}
    answer = {k: v for k, v in delta.items() if k not in trace}
    return [trace, answer] if trace and answer else [delta]


def usage_chunk(
    ident: str, obj: str, model: str, created: int, use: dict[str, int]
) -> dict[str, Any]:
    """The extra last chunk of `stream_options.include_usage`: no choices."""
    return {
        "id": ident,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [],
        "usage": use,
    }


def text_choice(index: int, final: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "index": index,
        "text": text,
        "finish_reason": finish_reason(final.get("done_reason"), False),
        "logprobs": lp.openai_text_logprobs(final.get("logprobs")),
    }


def text_completion(
    ident: str, model: str, created: int, finals: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [text_choice(i, f, f.get("response") or "") for i, f in enumerate(finals)],
        "usage": sum_usage([usage(f) for f in finals]),
    }


def text_chunk(
    ident: str,
    model: str,
    created: int,
    index: int,
    text: str,
    finish: str | None,
    with_usage: bool,
    logprobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    choice = {
        "index": index,
        "text": text,
        "finish_reason": finish,
        "logprobs": lp.openai_text_logprobs(logprobs),
    }
    body: dict[str, Any] = {
        "id": ident,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    if with_usage:
        body["usage"] = None
    return body


def model_object(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "pasture"}


def model_list(names: list[str], created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(n, created) for n in names]}


# ---- errors

_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object; the SDKs raise the exception class by status."""
    # As Ollama's openai.NewError: 400 invalid_request_error, 404 not_found_error,
    # a server error api_error; Pasture's own 401/403/429 keep OpenAI's types.
    kind = "api_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}

"""OpenAI requests -> Ollama requests, and Ollama results -> OpenAI responses.

The same design as Ollama's own compatibility layer (openai/openai.go): an
OpenAI request becomes the equivalent Ollama request, so model names,
variants, parameters, admission and metrics are shared with /api/*; the
Ollama chunks that come back are reshaped into OpenAI's objects here. Pure:
no framework, no engine."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from ..errors import OllamaError
from ..protocol import openai as o
from .images import image_url_data

# OpenAI sampling fields -> Ollama option names (unset fields fall back to the
# model entry's parameters, then Ollama's defaults, exactly as on /api/*).
_OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "repetition_penalty": "repeat_penalty",
    "seed": "seed",
}


def _options(req: o._Sampling, max_tokens: int | None) -> dict[str, Any]:
    if req.n is not None and req.n > 1:
        raise OllamaError(400, "n > 1 is not supported")
    opts: dict[str, Any] = {}
    for field, name in _OPTION_NAMES.items():
        value = getattr(req, field)
        if value is not None:
            opts[name] = value
    if max_tokens is not None:
        opts["num_predict"] = max_tokens
    if req.stop is not None:
        opts["stop"] = [req.stop] if isinstance(req.stop, str) else list(req.stop)
    return opts


def response_format(fmt: o.ResponseFormat | None) -> str | dict[str, Any] | None:
    """`response_format` -> Ollama `format` ("json" or a JSON schema)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json"
    if fmt.type == "json_schema":
        schema = (fmt.json_schema or {}).get("schema")
        if not isinstance(schema, dict):
            raise OllamaError(
                400, "response_format.json_schema.schema must be a JSON schema object"
            )
        return schema
    raise OllamaError(400, f"invalid response_format type: {fmt.type!r}")


def _text_and_images(content: str | list[dict[str, Any]] | None) -> tuple[str, list[str]]:
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text") or ""))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            # Data URLs carry the image; Ollama's `images` want the bare base64.
            # Remote URLs are refused: the server fetches nothing for a client.
            images.append(image_url_data(str(url or "")))
        else:
            raise OllamaError(400, f"invalid message content part type: {kind!r}")
    return "".join(texts), images


def _tool_calls(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """OpenAI tool calls (arguments as a JSON string) -> Ollama's (an object)."""
    if not calls:
        return None
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") or {}
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            raise OllamaError(400, "tool call arguments must be a JSON object") from None
        out.append(
            {
                "id": call.get("id"),
                "function": {"index": i, "name": fn.get("name", ""), "arguments": parsed},
            }
        )
    return out


def chat_request(req: o.ChatCompletionRequest) -> dict[str, Any]:
    """The Ollama /api/chat body equivalent to an OpenAI chat completion request."""
    ids: dict[str, str] = {}  # tool_call_id -> function name, for tool results
    messages = []
    for msg in req.messages or []:
        text, images = _text_and_images(msg.content)
        calls = _tool_calls(msg.tool_calls)
        for call in calls or []:
            if call["id"]:
                ids[call["id"]] = call["function"]["name"]
        m: dict[str, Any] = {"role": msg.role, "content": text}
        if images:
            m["images"] = images
        if calls:
            m["tool_calls"] = calls
        if msg.role == "tool":
            m["tool_name"] = msg.name or ids.get(msg.tool_call_id or "", "")
        thinking = msg.reasoning or msg.reasoning_content
        if thinking:
            m["thinking"] = thinking
        messages.append(m)
    tools = req.tools if req.tool_choice != "none" else None
    return {
        "model": req.model,
        "messages": messages,
        "tools": tools,
        "format": response_format(req.response_format),
        "options": _options(req, req.max_completion_tokens or req.max_tokens),
        "stream": bool(req.stream),
        "think": reasoning_effort_think(req.reasoning_effort),
    }


def reasoning_effort_think(effort: str | None) -> Any:
    """OpenAI `reasoning_effort` -> Ollama `think`: `none` turns thinking off,
    `minimal` (below Ollama's lowest level) is `low`, `low`/`medium`/`high` pass
    as they are; anything else passes too, for `think`'s own 400."""
    if effort is None:
        return None
    if effort == "none":
        return False
    if effort == "minimal":
        return "low"
    return effort


def completion_prompts(req: o.CompletionRequest) -> list[str]:
    """The prompt(s) of a /v1/completions request (token-id prompts are refused)."""
    p = req.prompt
    if p is None:
        raise OllamaError(400, "prompt is required")
    if isinstance(p, str):
        return [p]
    if p and all(isinstance(x, str) for x in p):
        return [str(x) for x in p]
    raise OllamaError(400, "prompt must be a string or a list of strings")


def generate_request(req: o.CompletionRequest, prompt: str) -> dict[str, Any]:
    """The Ollama /api/generate body for one prompt of a completions request.

    OpenAI completions are raw text continuation (as vLLM serves them), so no
    chat template applies, unless a `suffix` asks for the template's insert."""
    return {
        "model": req.model,
        "prompt": prompt,
        "suffix": req.suffix,
        "raw": not req.suffix,
        "options": _options(req, req.max_tokens if req.max_tokens is not None else 16),
        "stream": bool(req.stream),
    }


# ---- responses


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


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
    `function.index`, as its openai.go): calls arrive a chunk at a time."""
    out = []
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = call["function"]
        item: dict[str, Any] = {
            "id": call.get("id") or new_id("call"),
            "type": "function",
            "function": {"name": fn["name"], "arguments": json.dumps(fn.get("arguments") or {})},
        }
        if stream:
            index = fn.get("index")
            item["index"] = index if isinstance(index, int) else i
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
                "logprobs": None,
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
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
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
        "logprobs": None,
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
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ident,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": index, "text": text, "finish_reason": finish, "logprobs": None}],
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
    kind = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}

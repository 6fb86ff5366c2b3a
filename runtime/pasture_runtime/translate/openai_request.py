"""OpenAI requests -> Ollama requests (openai_response.py shapes the results).

The same design as Ollama's own compatibility layer (openai/openai.go): an
OpenAI request becomes the equivalent Ollama request, so model names,
variants, parameters, admission and metrics are shared with /api/*. Pure:
no framework, no engine, no clock."""

from __future__ import annotations

import json
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
            if msg.tool_call_id:  # as Ollama's openai.go: the template sees it too
                m["tool_call_id"] = msg.tool_call_id
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
        # The `reasoning` object wins over `reasoning_effort`, as in Ollama.
        "think": reasoning_effort_think(
            req.reasoning.effort if req.reasoning is not None else req.reasoning_effort
        ),
        "logprobs": req.logprobs,
        "top_logprobs": req.top_logprobs,
    }


# OpenAI effort -> Ollama think (openai.go thinkFromReasoningEffort): the
# scale's ends are clamped to Ollama's nearest level rather than refused.
_EFFORT_THINK: dict[str, Any] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}
_EFFORT_ERROR = (
    'invalid reasoning value: "{}" (must be "minimal", "low", "medium", "high", '
    '"xhigh", "ultra", "max", or "none")'
)


def reasoning_effort_think(effort: str | None) -> Any:
    """OpenAI `reasoning.effort` / `reasoning_effort` -> Ollama `think`; unset
    (or empty) leaves thinking at the model's default; unknown is Ollama's 400."""
    if not effort:
        return None
    if effort not in _EFFORT_THINK:
        raise OllamaError(400, _EFFORT_ERROR.format(effort))
    return _EFFORT_THINK[effort]


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
        "logprobs": req.logprobs is not None,
        "top_logprobs": req.logprobs,
    }

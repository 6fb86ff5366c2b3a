"""OpenAI Responses requests -> Ollama chat requests (openai/responses.go's
FromResponsesRequest). Stateless, as Ollama's: nothing is stored, so
`previous_response_id` and `conversation` are refused rather than ignored
(ignoring them would answer without the context the client meant). Pure."""

from __future__ import annotations

import json
from typing import Any

from ..errors import MODEL_REQUIRED, OllamaError
from ..protocol import responses as r
from .images import image_url_data

STATELESS = (
    "{field} is not supported: responses are not stored (the endpoint is stateless, "
    "as Ollama's); send the whole conversation in `input`"
)
WEB_SEARCH = (
    "web_search tools are not supported: the server runs no searches for a client; "
    "offer a function tool and run the search yourself"
)
EFFORT_ERROR = (
    'invalid reasoning value: "{0}" (must be "minimal", "low", "medium", "high", '
    '"xhigh", "ultra", "max", or "none")'
)


def check(req: r.ResponsesRequest) -> None:
    if not req.model:
        raise OllamaError(400, MODEL_REQUIRED)
    for field in ("previous_response_id", "conversation"):
        if getattr(req, field):
            raise OllamaError(400, STATELESS.format(field=field))


def _content(parts: Any) -> tuple[str, list[str]]:
    """A message's content (a string or typed parts) -> text and images."""
    if parts is None or isinstance(parts, str):
        return parts or "", []
    if not isinstance(parts, list):
        raise OllamaError(400, "content must be a string or array")
    text: list[str] = []
    images: list[str] = []
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            text.append(str(part.get("text") or ""))
        elif kind == "input_image":
            if part.get("image_url"):  # file ids name nothing here (Ollama skips them too)
                images.append(image_url_data(str(part["image_url"])))
        elif kind == "input_file":
            raise OllamaError(400, "file inputs are not currently supported")
        else:
            raise OllamaError(400, f"content[{i}]: unknown content type: {kind}")
    return "".join(text), images


def _arguments(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as e:
        raise OllamaError(400, f"failed to parse function call arguments: {e}") from None
    if not isinstance(value, dict):
        raise OllamaError(400, "failed to parse function call arguments: not a JSON object")
    return value


class _Conversation:
    """Input items folded into Ollama messages, as Ollama folds them: function
    calls join the assistant message before them; reasoning goes to the next
    assistant message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # call_id -> function name
        self.thinking = ""

    def _last_assistant(self) -> dict[str, Any] | None:
        last = self.messages[-1] if self.messages else None
        return last if last is not None and last["role"] == "assistant" else None

    def message(self, item: dict[str, Any]) -> None:
        text, images = _content(item.get("content"))
        m: dict[str, Any] = {"role": str(item.get("role") or "user"), "content": text}
        if images:
            m["images"] = images
        if m["role"] == "assistant" and self.thinking:
            m["thinking"], self.thinking = self.thinking, ""
        self.messages.append(m)

    def call(self, item: dict[str, Any]) -> None:
        ident, name = str(item.get("call_id") or ""), str(item.get("name") or "")
        self.names[ident] = name
        call = {
            "id": ident,
            "function": {"name": name, "arguments": _arguments(item.get("arguments"))},
        }
        target = self._last_assistant()
        if target is None:
            target = {"role": "assistant", "content": ""}
            self.messages.append(target)
        target.setdefault("tool_calls", []).append(call)
        if self.thinking:
            target["thinking"], self.thinking = self.thinking, ""

    def output(self, item: dict[str, Any]) -> None:
        ident = str(item.get("call_id") or "")
        text, images = _content(item.get("output"))
        m: dict[str, Any] = {"role": "tool", "content": text, "tool_call_id": ident}
        m["tool_name"] = self.names.get(ident, "")
        if images:
            m["images"] = images
        self.messages.append(m)

    def add(self, i: int, item: Any) -> None:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind is None and isinstance(item, dict) and item.get("role"):
            kind = "message"
        handlers = {"message": self.message, "function_call": self.call}
        handlers["function_call_output"] = self.output
        if kind in handlers:
            handlers[kind](item)
        elif kind == "reasoning":
            self.thinking = str(item.get("encrypted_content") or "")
        elif kind == "web_search_call":
            pass  # a search Ollama ran before: nothing the model reads
        elif not kind:
            raise OllamaError(400, f"input[{i}]: input item missing required 'type' field")
        else:
            raise OllamaError(400, f'input[{i}]: unknown input item type: "{kind}"')


def messages(req: r.ResponsesRequest) -> list[dict[str, Any]]:
    conv = _Conversation()
    if req.instructions:
        conv.messages.append({"role": "system", "content": req.instructions})
    if isinstance(req.input, str):
        if req.input:
            conv.messages.append({"role": "user", "content": req.input})
    else:
        for i, item in enumerate(req.input or []):
            conv.add(i, item)
    if conv.thinking:  # reasoning with no answer after it
        conv.messages.append({"role": "assistant", "content": "", "thinking": conv.thinking})
    return conv.messages


def _function(tool: Any, prefix: str = "") -> list[dict[str, Any]]:
    if not isinstance(tool, dict):
        raise OllamaError(400, "tools must be objects")
    kind = tool.get("type")
    if kind == "web_search" or str(kind).startswith("web_search"):
        raise OllamaError(400, WEB_SEARCH)
    name = str(tool.get("name") or "")
    if kind == "namespace":  # member tools, named `namespace.member`
        inner = f"{prefix}{name}." if name else prefix
        members = tool.get("tools") or []
        return [
            t
            for m in (members if isinstance(members, list) else [members])
            for t in _function(m, inner)
        ]
    if kind != "function":
        raise OllamaError(400, f"unsupported tool type: {kind!r} (function tools only)")
    params = tool.get("parameters") or {"type": "object", "properties": {}}
    fn = {"name": prefix + name, "description": tool.get("description") or "", "parameters": params}
    return [{"type": "function", "function": fn}]


def think(effort: str | None) -> bool | str | None:
    """`reasoning.effort` -> Ollama `think` (thinkFromReasoningEffort)."""
    if not effort:
        return None
    if effort == "none":
        return False
    if effort == "minimal":
        return "low"
    if effort in ("low", "medium", "high", "max"):
        return effort
    if effort in ("xhigh", "ultra"):
        return "max"
    raise OllamaError(400, EFFORT_ERROR.format(effort))


def _format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def chat_request(req: r.ResponsesRequest) -> dict[str, Any]:
    """The Ollama /api/chat body equivalent to a Responses request (checked)."""
    check(req)
    # Ollama's default temperature for Responses is OpenAI's, 1.0.
    options: dict[str, Any] = {"temperature": 1.0 if req.temperature is None else req.temperature}
    if req.top_p is not None:
        options["top_p"] = req.top_p
    if req.max_output_tokens is not None:
        options["num_predict"] = req.max_output_tokens
    tools = [t for tool in req.tools or [] for t in _function(tool)]
    if req.tool_choice == "none":
        tools = []  # the client forbids calls: the model is not offered any
    return {
        "model": req.model,
        "messages": messages(req),
        "options": options,
        "stream": bool(req.stream),
        "tools": tools or None,
        "format": _format(req.text),
        "think": think(req.reasoning.effort if req.reasoning else None),
    }

"""Anthropic Messages requests -> Ollama chat requests (anthropic/anthropic.go's
FromMessagesRequest): the Messages API is another protocol over the same chat
use case. Pure: no framework, no engine, no clock."""

from __future__ import annotations

from typing import Any

from ..errors import MODEL_REQUIRED, OllamaError
from ..protocol import anthropic as a

# Ollama's effort levels an Anthropic `output_config.effort` may name.
_EFFORTS = ("low", "medium", "high", "max")
WEB_SEARCH = (
    "web_search tools are not supported: the server runs no searches for a client; "
    "offer a client tool and run the search yourself"
)


def check(req: a.MessagesRequest) -> None:
    """Ollama's middleware checks, in its order and words."""
    if not req.model:
        raise OllamaError(400, MODEL_REQUIRED)
    if req.max_tokens is None or req.max_tokens <= 0:
        raise OllamaError(400, "max_tokens is required and must be positive")
    if not req.messages:
        raise OllamaError(400, "messages is required")


def _system(system: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if isinstance(system, list):
        system = "".join(
            str(b.get("text") or "")
            for b in system
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return [{"role": "system", "content": system}] if system else []


def _image(source: Any) -> str:
    """An image block's source -> the bare base64 Ollama's `images` take."""
    if not isinstance(source, dict):
        raise OllamaError(400, "invalid image source")
    if source.get("type") != "base64":
        kind = source.get("type")
        raise OllamaError(
            400, f"invalid image source type: {kind}. Only base64 images are supported."
        )
    return str(source.get("data") or "")


def _tool_result(content: Any) -> tuple[str, list[str]]:
    """A tool_result's content (a string or text/image blocks) -> text and images."""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text") or ""))
        elif block.get("type") == "image":
            images.append(_image(block.get("source")))
    return "".join(texts), images


def _tool_use(block: dict[str, Any]) -> dict[str, Any]:
    if not block.get("id"):
        raise OllamaError(400, "tool_use block missing required 'id' field")
    if not block.get("name"):
        raise OllamaError(400, "tool_use block missing required 'name' field")
    args = block.get("input")
    return {
        "id": block["id"],
        "function": {"name": block["name"], "arguments": args if isinstance(args, dict) else {}},
    }


class _Turn:
    """One Anthropic message's blocks, gathered into Ollama messages."""

    def __init__(self, role: str, names: dict[str, str]) -> None:
        self.role = role
        self.names = names  # tool_use id -> tool name, over the whole conversation
        self.text: list[str] = []
        self.images: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.thinking = ""
        self.results: list[dict[str, Any]] = []

    def add(self, block: dict[str, Any]) -> None:
        kind = block.get("type")
        if kind == "text":
            self.text.append(str(block.get("text") or ""))
        elif kind == "image":
            self.images.append(_image(block.get("source")))
        elif kind == "tool_use":
            call = _tool_use(block)
            self.names[call["id"]] = call["function"]["name"]
            self.calls.append(call)
        elif kind == "tool_result":
            self._result(block)
        elif kind == "thinking":
            self.thinking = str(block.get("thinking") or "")
        # Other block types (redacted_thinking, documents, ...) are skipped, as Ollama does.

    def _result(self, block: dict[str, Any]) -> None:
        text, images = _tool_result(block.get("content"))
        ident = str(block.get("tool_use_id") or "")
        # Pasture's templates name the tool a result answers (tool_name).
        result: dict[str, Any] = {"role": "tool", "content": text, "tool_call_id": ident}
        result["tool_name"] = self.names.get(ident, "")
        if images:
            result["images"] = images
        self.results.append(result)

    def messages(self) -> list[dict[str, Any]]:
        """A user's tool results come before its text (they answer the previous
        turn); other roles' after, as in Ollama."""
        out: list[dict[str, Any]] = []
        if self.text or self.images or self.calls or self.thinking:
            m: dict[str, Any] = {"role": self.role, "content": "".join(self.text)}
            if self.images:
                m["images"] = self.images
            if self.calls:
                m["tool_calls"] = self.calls
            if self.thinking:
                m["thinking"] = self.thinking
            out.append(m)
        return [*self.results, *out] if self.role == "user" else [*out, *self.results]


def messages(req: a.MessagesRequest) -> list[dict[str, Any]]:
    out = _system(req.system)
    names: dict[str, str] = {}
    for msg in req.messages or []:
        turn = _Turn(msg.role.lower(), names)
        blocks = (
            [{"type": "text", "text": msg.content}] if isinstance(msg.content, str) else msg.content
        )
        for block in blocks:
            if isinstance(block, dict):
                turn.add(block)
        out.extend(turn.messages())
    return out


def _tools(req: a.MessagesRequest) -> list[dict[str, Any]] | None:
    if req.tool_choice is not None and req.tool_choice.type == "none":
        return None  # the client forbids calls: the model is not offered any
    tools = []
    for tool in req.tools or []:
        if (tool.type or "").startswith("web_search"):
            raise OllamaError(400, WEB_SEARCH)
        params = tool.input_schema or {"type": "object", "properties": {}}
        fn = {"name": tool.name, "description": tool.description or "", "parameters": params}
        tools.append({"type": "function", "function": fn})
    return tools or None


def think(req: a.MessagesRequest, can_think: bool) -> bool | str | None:
    """`thinking` (or `output_config.effort`) -> Ollama `think`. A model that
    cannot think gets no `think` rather than a 400 (Ollama's relax_thinking:
    clients such as Claude Code always ask for it)."""
    value: bool | str | None = None
    if req.thinking is not None and req.thinking.type in ("enabled", "disabled"):
        value = req.thinking.type == "enabled"
    elif req.output_config is not None and req.output_config.effort:
        effort = req.output_config.effort.strip().lower()
        effort = "high" if effort == "xhigh" else effort
        value = effort if effort in _EFFORTS else None
    if value not in (None, False) and not can_think:
        return None
    return value


def chat_request(req: a.MessagesRequest, can_think: bool) -> dict[str, Any]:
    """The Ollama /api/chat body equivalent to a Messages request (checked)."""
    check(req)
    options: dict[str, Any] = {"num_predict": req.max_tokens}
    for name in ("temperature", "top_p", "top_k"):
        if getattr(req, name) is not None:
            options[name] = getattr(req, name)
    if req.stop_sequences:
        options["stop"] = list(req.stop_sequences)
    return {
        "model": req.model,
        "messages": messages(req),
        "options": options,
        "stream": bool(req.stream),
        "tools": _tools(req),
        "think": think(req, can_think),
    }

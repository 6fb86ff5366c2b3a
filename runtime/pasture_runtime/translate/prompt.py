"""Prompt rendering: which language a template is in, and Ollama's Go
templates rendered by translate/gotemplate with the Values Ollama feeds them.

A Modelfile TEMPLATE and a request's `template` are Ollama Go templates; HF
models ship Jinja ones, which the engine's renderer keeps rendering. A Go
template that does not parse, or uses what Pasture does not render, is a 400
naming the problem (never a silent wrong prompt)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import OllamaError
from ..protocol.ollama import Message
from . import gotemplate

# An action only Go's syntax has: a field or variable (`.Prompt`, `$.Tools`),
# a comment, a Go keyword, or a function applied Go-style (`json .Tools`).
_GO_ACTION = re.compile(
    r"\{\{-?\s*(?:[.$]|/\*|(?:if|range|with|end|else|define|template|block|break|continue)\b"
    r"(?!\s*[(=])|[A-Za-z_]\w*\s+[.$(\"])"
)


def is_go_template(template: str) -> bool:
    """Ollama's Go syntax rather than Jinja: no Jinja statement or comment
    tags, and an action only Go has (text without actions reads the same in both)."""
    if "{%" in template or "{#" in template:
        return False
    return "{{" not in template or _GO_ACTION.search(template) is not None


def is_jinja(template: str) -> bool:
    return not is_go_template(template)


@lru_cache(maxsize=64)
def _parsed(template: str) -> gotemplate.OllamaTemplate:
    return gotemplate.parse(template)


def go_template(template: str | None) -> gotemplate.OllamaTemplate | None:
    """The parsed template when it is in Ollama's Go syntax; None for Jinja
    (or no template). One that does not parse is a 400."""
    if not template or not is_go_template(template):
        return None
    try:
        return _parsed(template)
    except gotemplate.TemplateError as e:
        raise OllamaError(400, str(e)) from None


def _go_vars(template: str) -> frozenset[str] | None:
    """A Go template's variable names (lower-cased, as Ollama's Vars); None
    for Jinja. One that does not parse has none: capabilities are listed
    (/api/show) even for a broken TEMPLATE, whose requests get the 400."""
    if not template or not is_go_template(template):
        return None
    try:
        return _parsed(template).vars
    except gotemplate.TemplateError:
        return frozenset()


def supports_suffix(template: str) -> bool:
    """Fill-in-the-middle support: the template uses the suffix variable."""
    names = _go_vars(template)
    if names is not None:
        return "suffix" in names
    return ".Suffix" in template or "suffix" in template


def supports_tools(template: str) -> bool:
    names = _go_vars(template)
    if names is not None:
        return "tools" in names  # Ollama's rule: the template names .Tools
    return "tools" in template


def _think_values(think: Any) -> dict[str, Any]:
    """Ollama's Think / ThinkLevel / IsThinkSet for a request's `think`."""
    if think is None:
        return {}
    if think in ("true", "false", ""):
        think = think == "true"
    if isinstance(think, bool):
        return {"think": think, "think_level": "medium" if think else "", "is_think_set": True}
    return {"think": True, "think_level": str(think), "is_think_set": True}


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: a Go template takes the text
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return str(content or "")


def _ollama_message(m: dict[str, Any]) -> dict[str, Any]:
    """A template message (HF shape, as the engine renderer takes) back in
    Ollama's shape, which Ollama's template Values are built from."""
    out = {
        "role": m.get("role", ""),
        "content": _text(m.get("content")),
        "thinking": m.get("reasoning_content") or m.get("thinking") or "",
        "tool_name": m.get("tool_name") or "",
        "tool_call_id": m.get("tool_call_id") or "",
    }
    if m.get("tool_calls"):
        out["tool_calls"] = [_ollama_call(c) for c in m["tool_calls"]]
    return out


def _ollama_call(call: dict[str, Any]) -> dict[str, Any]:
    """An HF tool call (`index` beside `function`, where templates ignore it)
    back in Ollama's shape (`function.index`)."""
    fn = call.get("function") or {}
    return {"id": call.get("id"), "function": {**fn, "index": call.get("index", 0)}}


def _execute(go: gotemplate.OllamaTemplate, values: gotemplate.Values) -> str:
    try:
        return go.execute(values)
    except gotemplate.TemplateError as e:
        raise OllamaError(400, str(e)) from None


def render_go_chat(
    go: gotemplate.OllamaTemplate,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    think: Any,
) -> str:
    """/api/chat's prompt, as Ollama renders a conversation with a Go template."""
    msgs = [_ollama_message(m) for m in messages]
    return _execute(go, gotemplate.Values(messages=msgs, tools=tools, **_think_values(think)))


def render_go_generate(
    go: gotemplate.OllamaTemplate,
    messages: list[dict[str, Any]],
    prompt: str,
    suffix: str | None,
    think: Any,
) -> str:
    """/api/generate's prompt: Prompt and Suffix alone for fill-in-the-middle,
    else the conversation (system, the model's MESSAGEs, the prompt), as Ollama."""
    thinking = _think_values(think)
    if suffix:
        return _execute(go, gotemplate.Values(prompt=prompt, suffix=suffix, **thinking))
    return render_go_chat(go, messages, None, think)


@dataclass(frozen=True)
class ChatTurn:
    """One message in the shape HF chat templates expect."""

    role: str
    content: str
    extra: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content, **self.extra}


def to_template_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Ollama messages -> HF template messages (tool calls keep object arguments)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        extra: dict[str, Any] = {}
        if msg.tool_calls:
            extra["tool_calls"] = [
                {
                    **({"id": call.id} if call.id else {}),
                    "type": "function",
                    **({"id": call.id} if call.id else {}),
                    **({"index": call.function.index} if call.function.index else {}),
                    "function": {
                        "name": call.function.name,
                        "arguments": call.function.arguments or {},
                    },
                }
                for call in msg.tool_calls
            ]
        if msg.tool_name:
            extra["name"] = msg.tool_name
            extra["tool_name"] = msg.tool_name
        if msg.thinking:
            extra["reasoning_content"] = msg.thinking
        if msg.tool_call_id:  # HF templates read `message.tool_call_id`
            extra["tool_call_id"] = msg.tool_call_id
        out.append(ChatTurn(msg.role, msg.content or "", extra).as_dict())
    return out


def chat_messages(
    request_messages: list[Message],
    model_system: str | None,
    model_messages: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """The conversation the template renders for /api/chat.

    As Ollama does: the model's SYSTEM goes first unless the request brings
    its own system message; the model's MESSAGEs come before the request's."""
    msgs: list[dict[str, Any]] = []
    has_system = any(m.role == "system" for m in request_messages)
    if model_system and not has_system:
        msgs.append({"role": "system", "content": model_system})
    msgs.extend(dict(m) for m in model_messages)
    msgs.extend(to_template_messages(request_messages))
    return msgs


def generate_messages(
    prompt: str,
    system: str | None,
    model_system: str | None,
    model_messages: list[dict[str, str]],
    with_history: bool,
) -> list[dict[str, Any]]:
    """The conversation for a templated /api/generate: system, history, prompt.

    With a `context` from a previous call the history is already in those
    tokens, so the model's MESSAGEs are not repeated (as in Ollama)."""
    msgs: list[dict[str, Any]] = []
    sys_text = system or model_system
    if sys_text:
        msgs.append({"role": "system", "content": sys_text})
    if with_history:
        msgs.extend(dict(m) for m in model_messages)
    msgs.append({"role": "user", "content": prompt})
    return msgs

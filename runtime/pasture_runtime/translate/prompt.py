"""Prompt rendering: chat messages through the model's (Jinja) chat template,
and `/api/generate`'s Ollama-style (Go text/template) `template` override.

Ollama templates are Go templates; HF models ship Jinja ones. A request's
`template` is rendered as Jinja when it looks like Jinja (`{%` or `messages`),
else with the small Go-template subset below: `{{ .System }}`, `{{ .Prompt }}`,
`{{ .Response }}`, `{{ .Suffix }}`, `{{ if X }}...{{ else }}...{{ end }}`, and
`{{-`/`-}}` trimming. Anything else is a 400 (never a silent wrong prompt)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import OllamaError
from ..protocol.ollama import Message

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_FIELDS = ("System", "Prompt", "Response", "Suffix")


def is_jinja(template: str) -> bool:
    return "{%" in template or "messages" in template


def supports_suffix(template: str) -> bool:
    """Fill-in-the-middle support: the template uses the suffix variable."""
    return ".Suffix" in template or "suffix" in template


def supports_tools(template: str) -> bool:
    return "tools" in template


def render_go_template(template: str, values: dict[str, str]) -> str:
    """Render the Go-template subset described in the module docstring."""
    out: list[str] = []
    # Stack of (emitting-before-this-block, condition-true) for nested ifs.
    stack: list[tuple[bool, bool]] = []
    emitting = True
    pos = 0
    pending_trim = False
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if pending_trim:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        if emitting:
            out.append(text)
        pending_trim = bool(m.group(3))
        pos = m.end()
        action = m.group(2)
        field = re.fullmatch(r"\.(\w+)", action)
        cond = re.fullmatch(r"if\s+\.(\w+)", action)
        if field and field.group(1) in _FIELDS:
            if emitting:
                out.append(values.get(field.group(1), ""))
        elif cond and cond.group(1) in _FIELDS:
            truth = bool(values.get(cond.group(1)))
            stack.append((emitting, truth))
            emitting = emitting and truth
        elif action == "else" and stack:
            outer, truth = stack[-1]
            emitting = outer and not truth
        elif action == "end" and stack:
            emitting = stack.pop()[0]
        else:
            raise OllamaError(400, f"template: unsupported action {{{{ {action} }}}}")
    if stack:
        raise OllamaError(400, "template: unexpected EOF (missing {{ end }})")
    tail = template[pos:]
    if pending_trim:
        tail = tail.lstrip()
    if emitting:
        out.append(tail)
    return "".join(out)


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

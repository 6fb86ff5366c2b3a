"""The prompt prefix a request's replica is chosen by (prefixHash): the system
prompt and the first message after it, or the prompt's first characters.
Turns of one conversation share it, and so do requests with one system prompt."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX_CHARS = 1024


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _chat_prefix(messages: list[Any]) -> str:
    parts: list[str] = []
    for m in messages:
        if not isinstance(m, Mapping):
            continue
        parts.append(f"{m.get('role')}:{_text(m.get('content'))}")
        if m.get("role") not in ("system", "developer"):
            break  # the first turn after the system prompt ends the prefix
    return "\n".join(parts)


def _prompt_prefix(prompt: Any) -> str:
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    return prompt if isinstance(prompt, str) else str(prompt)


def prefix_key(body: Mapping[str, Any], chars: int = PREFIX_CHARS) -> str | None:
    """The key, or None for requests without a prompt (embeddings: least load)."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        text = _chat_prefix(messages)
    elif "prompt" in body:
        text = _prompt_prefix(body.get("prompt"))
    else:
        return None
    system = body.get("system")
    if isinstance(system, str) and system:
        text = f"system:{system}\n{text}"
    return text[:chars] or None

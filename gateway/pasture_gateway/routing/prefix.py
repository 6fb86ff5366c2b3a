"""The prompt prefix a request's replica is chosen by (prefixHash): the system
prompt when there is one, else the first message, else the prompt's first
characters. Requests with one system prompt share it, whatever they ask
(bench/gateway_prefix.py: keying on the question too scattered a group of
requests whose shared system prompt was shorter than the key), and so do the
turns of one conversation."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

PREFIX_CHARS = 1024
_SYSTEM_ROLES = ("system", "developer")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _chat_prefix(messages: list[Any]) -> str:
    turns = [(m.get("role"), _text(m.get("content"))) for m in messages if isinstance(m, Mapping)]
    system = list(itertools.takewhile(lambda t: t[0] in _SYSTEM_ROLES, turns))
    return "\n".join(f"{role}:{text}" for role, text in (system or turns[:1]))


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
        text = f"system:{system}"
    return text[:chars] or None

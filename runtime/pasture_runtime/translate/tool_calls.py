"""Tool calls found by a vLLM tool parser -> Ollama's `message.tool_calls`.

The parser (run in tool_parsing.py) gives (id, name, arguments-as-JSON-string);
Ollama clients want the arguments as an object and an `index` per call."""

from __future__ import annotations

import json
from typing import Any


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        # A model that wrote broken JSON: keep what it wrote, visibly.
        return {"__raw__": raw}
    return value if isinstance(value, dict) else {"value": value}


def ollama_tool_calls(
    found: list[tuple[str | None, str, str]], start: int = 0
) -> list[dict[str, Any]]:
    """`start`: how many calls of the same message were sent before these
    (streamed calls come a few at a time; `index` counts across the message)."""
    return [
        {
            "id": ident or f"call_{i}",
            "function": {"index": i, "name": name, "arguments": _arguments(args)},
        }
        for i, (ident, name, args) in enumerate(found, start)
    ]

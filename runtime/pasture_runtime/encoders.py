"""NDJSON encoding, the one place Ollama's streaming wire format is written.

One compact JSON object per line, `\n`-terminated, never a blank line
(ollama-python json-parses every line). The OpenAI routes' SSE is the small
section at the end: `data: {...}\n\n` events, then `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"


def ndjson_line(obj: dict[str, Any]) -> bytes:
    # ensure_ascii=False: Go's encoder writes UTF-8, not \u escapes.
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


async def ndjson_stream(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield ndjson_line(chunk)


# ---- Server-sent events (OpenAI streaming)
SSE = "text/event-stream"
SSE_DONE = b"data: [DONE]\n\n"


def sse_event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def sse_named(event: str, obj: dict[str, Any]) -> bytes:
    """A named event (`event: x` + `data: {...}`): the Anthropic Messages and
    OpenAI Responses streams, which have no `[DONE]`."""
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n".encode()

"""NDJSON encoding, the one place Ollama's streaming wire format is written.

One compact JSON object per line, `\n`-terminated, never a blank line
(ollama-python json-parses every line). SSE for the OpenAI routes will live
beside this, not in it."""

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

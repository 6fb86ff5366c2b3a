"""The engine's token counts for one answered call, read from the end of its
body only (pure): Ollama's final object (`prompt_eval_count`, `eval_count`),
OpenAI's `usage` (`prompt_tokens`, `completion_tokens`), Anthropic's
(`input_tokens`, `output_tokens`, in the closing message_delta, which the
runtime writes with both) and the Responses API's (the same names, in the
`response.completed` event's response, whose usage follows its output). The last
occurrence wins; a JSON string cannot hold an unescaped `"eval_count":`, so
generated text never matches. No JSON parse: the relay keeps the last two
chunks and this scans them once, after the stream ended."""

from __future__ import annotations

import re

TAIL_BYTES = 8192
_PAIRS = (
    (re.compile(rb'"prompt_eval_count":\s*(\d+)'), re.compile(rb'"eval_count":\s*(\d+)')),
    (re.compile(rb'"prompt_tokens":\s*(\d+)'), re.compile(rb'"completion_tokens":\s*(\d+)')),
    (re.compile(rb'"input_tokens":\s*(\d+)'), re.compile(rb'"output_tokens":\s*(\d+)')),
)
NO_USAGE = (0, 0)


def _last(pattern: re.Pattern[bytes], text: bytes) -> int | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - the last match is wanted
        pass
    return int(found.group(1)) if found else None


def usage_from_tail(tail: bytes) -> tuple[int, int]:
    """(prompt, output) tokens from a body's last bytes; (0, 0) when absent."""
    tail = tail[-TAIL_BYTES:]
    for prompt_re, output_re in _PAIRS:
        prompt, output = _last(prompt_re, tail), _last(output_re, tail)
        if prompt is not None or output is not None:
            return prompt or 0, output or 0
    return NO_USAGE


# The runtime's usage chunk (compact JSON): no choices, then the counts.
USAGE_EVENT_MARK = b'"choices":[],"usage":{'


def strip_usage_event(chunk: bytes) -> bytes:
    """`chunk` without the SSE event holding USAGE_EVENT_MARK (the usage chunk
    the gateway asked for on the client's behalf); called only when the mark
    is in the chunk. The runtime writes that event whole in one write."""
    at = chunk.find(USAGE_EVENT_MARK)
    start = chunk.rfind(b"data: ", 0, at)
    end = chunk.find(b"\n\n", at)
    if start < 0 or end < 0:
        return chunk
    return chunk[:start] + chunk[end + 2 :]

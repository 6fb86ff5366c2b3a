"""Ollama's `keep_alive`: a duration string (Go syntax: "10m", "1h30m", "-1s"),
a number of seconds, or a negative value meaning forever. Parsed to whole
seconds for the `pasture.dev/keep-alive` annotation (contract item 4)."""

from __future__ import annotations

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def _duration_seconds(text: str) -> float | None:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        return None
    total, pos = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total if pos == len(body) else None


def keep_alive_seconds(value: object) -> int | None:
    """Whole seconds (negative = forever), or None when absent or unparsable."""
    if value is None or isinstance(value, bool):
        return None
    seconds: float | None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)  # "300" is seconds, as in Ollama
        except ValueError:
            seconds = _duration_seconds(text)
    else:
        return None
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return None
    return -1 if seconds < 0 else math.ceil(seconds)

"""Durations as Ollama's `keep_alive` writes them (Go's syntax): "30s", "5m",
"1h30m", "250ms", or a bare number of seconds. The CRD validates the same
shape (crds/pasture.dev_modeldeployments.yaml); this parses it to seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+")


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; ValueError for anything else (a negative sign included)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"negative duration {text!r}")
        return float(text)
    value = str(text).strip()
    if value.isdigit():
        return float(value)
    if not _WHOLE.fullmatch(value):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m or 1h")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))

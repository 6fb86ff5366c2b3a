"""`keep_alive`: a number of seconds or a Go duration string ("5m", "1h30m").

The model never unloads in a Pasture pod (the Deployment owns its lifetime),
so the value only matters for the `done_reason` of empty requests and for
`expires_at` in /api/ps; it is still validated so bad input is a 400."""

from __future__ import annotations

import re

from ..errors import OllamaError

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go `time.ParseDuration` string; ValueError if malformed."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def keep_alive_seconds(value: float | str | None) -> float | None:
    """Seconds (negative = forever), or None when unset."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)  # "300" is accepted as seconds
    except ValueError:
        pass
    try:
        return parse_go_duration(value)
    except ValueError as e:
        raise OllamaError(400, str(e)) from None


def is_unload(value: float | str | None) -> bool:
    seconds = keep_alive_seconds(value)
    return seconds is not None and seconds == 0

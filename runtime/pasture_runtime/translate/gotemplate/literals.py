"""Go literals inside actions: strconv.Unquote for strings and characters,
numbers as Go's ideal constants (ints stay ints, the rest float64)."""

from __future__ import annotations

import re

from .errors import TemplateError, Unsupported

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def _escape(m: re.Match[str]) -> str:
    code = m.group(1)
    if code in _SIMPLE:
        return _SIMPLE[code]
    if code[0] in "xuU":
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    raise TemplateError(f"template: invalid escape \\{code} in string")


def unquote(token: str) -> str:
    """The value of a "...", `...` or '...' literal."""
    if token.startswith("`"):
        return token[1:-1].replace("\r", "")
    return _ESCAPE.sub(_escape, token[1:-1])


def number(token: str) -> int | float:
    """An int constant where Go's would be one, else a float64."""
    text = token.replace("_", "")
    if text.endswith("i"):
        raise Unsupported(f"complex constant {token}")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9]\d*|0", body):
            base = {"x": 16, "o": 8, "b": 2}.get(body[1:2].lower(), 8 if len(body) > 1 else 10)
            digits = body[2:] if body[1:2].isalpha() else body
            return sign * int(digits, base if body.startswith("0") and len(body) > 1 else 10)
        return sign * (float.fromhex(body) if body[:2] in ("0x", "0X") else float(body))
    except ValueError:
        raise TemplateError(f"template: illegal number syntax: {token!r}") from None


def char(token: str) -> int:
    value = unquote(token)
    if len(value) != 1:
        raise TemplateError(f"template: malformed character constant: {token}")
    return ord(value)

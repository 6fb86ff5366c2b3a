"""Go's printing of values: fmt's %v (what an action prints), the subset of
Printf verbs templates use, float formatting, and encoding/json's Marshal
(the `json` function and Ollama's String() methods)."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from .errors import Unsupported
from .values import Map, Pointer, Struct, stringer_of


def _digits(f: float) -> tuple[str, int]:
    """Shortest decimal digits of |f| and the decimal point's position."""
    _, digits, exp = Decimal(repr(abs(f))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exp, int)
    point = len(digits) + exp
    return text, point if text != "0" else 1


def _fixed(f: float) -> str:
    digits, point = _digits(f)
    if point <= 0:
        body = "0." + "0" * -point + digits
    elif point >= len(digits):
        body = digits + "0" * (point - len(digits))
    else:
        body = digits[:point] + "." + digits[point:]
    return ("-" if f < 0 or (f == 0 and math.copysign(1, f) < 0) else "") + body


def _exponent(f: float) -> str:
    digits, point = _digits(f)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1 if digits != "0" else 0
    return ("-" if f < 0 else "") + f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _special(f: float) -> str | None:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return None


def format_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64): %v of a float64."""
    special = _special(f)
    if special:
        return special
    exp = _digits(f)[1] - 1
    if f != 0 and (exp < -4 or exp >= 6):  # shortest 'g': eprec 6
        return _exponent(f)
    return _fixed(f)


def format_value(value: Any, top: bool = True) -> str:
    """fmt.Sprint(value) as text/template prints an action's value."""
    stringer = stringer_of(value)
    if stringer is not None:
        return stringer(value)
    if value is None:
        return "<no value>" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Pointer):
        return "<nil>"
    if isinstance(value, Struct):
        return "{" + " ".join(format_value(v, False) for v in value.fields.values()) + "}"
    if isinstance(value, dict):
        items = sorted_items(value)
        return (
            "map["
            + " ".join(f"{format_value(k, False)}:{format_value(v, False)}" for k, v in items)
            + "]"
        )
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v, False) for v in value) + "]"
    return str(value)


def sorted_items(value: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """A map's entries in Go's order (fmtsort: keys sorted)."""
    return sorted(value.items(), key=lambda kv: kv[0])


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def sprintf(fmt: str, args: list[Any]) -> str:
    """fmt.Sprintf for %s %v %d %q %t %f %g %e %x and %%, with flags and widths."""
    out: list[str] = []
    pos = 0
    rest = list(args)
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if "*" in (width or "") + (precision or ""):
            raise Unsupported("printf's * width")
        if not rest:
            out.append(f"%!{verb}(MISSING)")
            continue
        text = _format_verb(verb, rest.pop(0), precision)
        out.append(_pad(text, flags, width))
    out.append(fmt[pos:])
    for extra in rest:
        out.append(f"%!(EXTRA {_extra(extra)})")
    return "".join(out)


def _extra(value: Any) -> str:
    from .values import type_name

    return f"{type_name(value)}={format_value(value, False)}"


def _format_verb(verb: str, value: Any, precision: str | None) -> str:
    if verb in "sv":
        text = format_value(value, False)
        return text[: int(precision)] if precision and verb == "s" else text
    if verb == "q" and isinstance(value, str):
        return marshal_string(value, html=False)
    if verb == "d" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if verb == "t" and isinstance(value, bool):
        return "true" if value else "false"
    if verb in "feg" and isinstance(value, float | int) and not isinstance(value, bool):
        f = float(value)
        return (
            format_float(f) if verb == "g" and precision is None else f"{f:.{precision or 6}{verb}}"
        )
    if verb == "x" and isinstance(value, int | str) and not isinstance(value, bool):
        return format(value, "x") if isinstance(value, int) else value.encode().hex()
    if verb in "sdqtfegx":
        from .values import type_name

        return f"%!{verb}({type_name(value)}={format_value(value, False)})"
    raise Unsupported(f"printf verb %{verb}")


def _pad(text: str, flags: str, width: str | None) -> str:
    if not width:
        return text
    size = int(width)
    if "-" in flags:
        return text.ljust(size)
    return text.rjust(size, "0" if "0" in flags else " ")


# -- encoding/json -----------------------------------------------------------

_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def marshal_string(s: str, html: bool = True) -> str:
    text = json.dumps(s, ensure_ascii=False)
    if html:
        text = re.sub("[<>&\u2028\u2029]", lambda m: _HTML[m.group()], text)
    return text


def _marshal_float(f: float) -> str:
    special = _special(f)
    if special:
        raise ValueError(f"json: unsupported value: {special}")
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        text = _exponent(f)
        return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)
    return _fixed(f)


def marshal(value: Any) -> str:
    """encoding/json.Marshal(value) (HTML-escaped, map keys sorted)."""
    if value is None or isinstance(value, Pointer) or getattr(value, "nil", False):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _marshal_float(value)
    if isinstance(value, str):
        return marshal_string(value)
    if isinstance(value, Struct):
        return _marshal_struct(value)
    marshaler = getattr(value, "marshaler", None)
    if marshaler is not None:
        return str(marshaler(value))
    if isinstance(value, dict):
        items = list(value.items()) if getattr(value, "ordered", False) else sorted_items(value)
        return "{" + ",".join(f"{marshal_string(str(k))}:{marshal(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    raise ValueError(f"json: unsupported type: {type(value).__name__}")


def _is_empty(value: Any) -> bool:
    if value is None or isinstance(value, Pointer):
        return True
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return not value
    return False


def _marshal_struct(value: Struct) -> str:
    parts: list[str] = []
    for name, field_value in value.fields.items():
        tag = (value.tags or {}).get(name)
        if tag is not None and tag.omitempty and _is_empty(field_value):
            continue
        key = tag.name if tag is not None else name
        parts.append(f"{marshal_string(key)}:{marshal(field_value)}")
    return "{" + ",".join(parts) + "}"


def sorted_map(value: Map) -> list[tuple[Any, Any]]:
    return sorted_items(value)

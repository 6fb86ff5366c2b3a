"""text/template's builtin functions (funcs.go) plus Ollama's (`json`,
`currentDate`, `yesterdayDate`), with Go's comparison and truth rules.
`and`/`or` short-circuit in exec.py, which hands them thunks."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from . import gofmt
from .errors import TemplateError
from .values import Slice, type_name

Func = Callable[..., Any]
# Go builtins Pasture does not render (named in the 400).
UNSUPPORTED = frozenset(("call", "html", "js", "urlquery"))


def is_true(value: Any) -> bool:
    """Go's truth: non-zero numbers, non-empty strings / slices / maps, structs."""
    if value is None or getattr(value, "nil", False):
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return not type_name(value).startswith("*")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid" if value is None else "other"


def eq(arg1: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("error calling eq: missing argument for comparison")
    k1 = _kind(arg1)
    for arg in others:
        k2 = _kind(arg)
        if k1 != k2:
            if arg1 is not None and arg is not None:
                raise TemplateError("error calling eq: incompatible types for comparison")
            continue
        if k1 == "other":
            if isinstance(arg1, list | dict) or isinstance(arg, list | dict):
                raise TemplateError(f"error calling eq: non-comparable type {type_name(arg)}")
            if arg1 is arg:
                return True
        elif arg1 == arg:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def _ordered(name: str, a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise TemplateError(f"error calling {name}: invalid type for comparison")
    if ka != kb:
        raise TemplateError(f"error calling {name}: incompatible types for comparison")
    return a, b


def lt(a: Any, b: Any) -> bool:
    x, y = _ordered("lt", a, b)
    return bool(x < y)


def le(a: Any, b: Any) -> bool:
    x, y = _ordered("le", a, b)
    return bool(x <= y)


def gt(a: Any, b: Any) -> bool:
    x, y = _ordered("gt", a, b)
    return bool(x > y)


def ge(a: Any, b: Any) -> bool:
    x, y = _ordered("ge", a, b)
    return bool(x >= y)


def not_(value: Any) -> bool:
    return not is_true(value)


def length(item: Any) -> int:
    if item is None:
        raise TemplateError("error calling len: len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list | tuple | dict):
        return len(item)
    raise TemplateError(f"error calling len: len of type {type_name(item)}")


def _index_arg(name: str, index: Any, cap: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise TemplateError(
            f"error calling {name}: cannot index slice/array with type {type_name(index)}"
        )
    if index < 0 or index > cap:
        raise TemplateError(f"error calling {name}: index out of range: {index}")
    return index


def index(item: Any, *indexes: Any) -> Any:
    for key in indexes:
        if item is None:
            raise TemplateError("error calling index: index of untyped nil")
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, list | tuple | str):
            i = _index_arg("index", key, len(item) - 1)
            item = item.encode()[i] if isinstance(item, str) else item[i]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type_name(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise TemplateError("error calling slice: slice of untyped nil")
    if len(indexes) > 2:
        raise TemplateError(f"error calling slice: too many slice indexes: {len(indexes)}")
    if not isinstance(item, list | tuple | str):
        raise TemplateError(f"error calling slice: can't slice item of type {type_name(item)}")
    size = len(item.encode()) if isinstance(item, str) else len(item)
    bounds = [0, size]
    for k, i in enumerate(indexes):
        bounds[k] = _index_arg("slice", i, size)
    if bounds[0] > bounds[1]:
        raise TemplateError(f"error calling slice: invalid slice index: {bounds[0]} > {bounds[1]}")
    if isinstance(item, str):
        return item.encode()[bounds[0] : bounds[1]].decode(errors="replace")
    if isinstance(item, Slice):
        return Slice(item[bounds[0] : bounds[1]], item.type_name, stringer=item.stringer)
    return item[bounds[0] : bounds[1]]


def sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    for k, arg in enumerate(args):
        if k and not isinstance(arg, str) and not isinstance(args[k - 1], str):
            out.append(" ")
        out.append(gofmt.format_value(arg, top=False))
    return "".join(out)


def sprintln(*args: Any) -> str:
    return " ".join(gofmt.format_value(a, top=False) for a in args) + "\n"


def printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise TemplateError(f"wrong type for value; expected string; got {type_name(fmt)}")
    return gofmt.sprintf(fmt, list(args))


def to_json(value: Any) -> str:
    try:
        return gofmt.marshal(value)
    except ValueError:
        return ""  # Ollama's json ignores Marshal's error


def current_date(*_: Any) -> str:
    return datetime.date.today().isoformat()


def yesterday_date(*_: Any) -> str:
    return (datetime.date.today() - datetime.timedelta(days=1)).isoformat()


BUILTINS: dict[str, Func] = {
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "not": not_,
    "len": length,
    "index": index,
    "slice": slice_,
    "print": sprint,
    "println": sprintln,
    "printf": printf,
    "json": to_json,
    "currentDate": current_date,
    "yesterdayDate": yesterday_date,
    "and": lambda *a: a,
    "or": lambda *a: a,  # evaluated lazily by exec.py
}

"""Go values as the renderer sees them. Python str/bool/int/float stand for
Go's; None is a nil interface (Go prints it as `<no value>` from an action);
lists are slices and dicts maps (ranged and printed in sorted key order, as
Go does), unless they are the typed values below, which carry what Go's
types carry: a type name, JSON tags, a String() method, a nil-ness."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tag:
    """A struct field's `json:"name,omitempty"` tag."""

    name: str
    omitempty: bool = False


class Struct:
    """A Go struct value: fields in declaration order, optional JSON tags
    (absent: the field names) and an optional String() method."""

    def __init__(
        self,
        type_name: str,
        fields: dict[str, Any],
        tags: dict[str, Tag] | None = None,
        stringer: Callable[[Struct], str] | None = None,
    ) -> None:
        self.type_name = type_name
        self.fields = fields
        self.tags = tags
        self.stringer = stringer

    def __repr__(self) -> str:
        return f"Struct({self.type_name}, {self.fields!r})"


class Slice(list[Any]):
    """A typed slice: `nil` (printed `[]`, marshaled `null`) and an optional String()."""

    def __init__(
        self,
        items: Any = (),
        type_name: str = "[]interface {}",
        nil: bool = False,
        stringer: Callable[[Slice], str] | None = None,
        marshaler: Callable[[Slice], str] | None = None,
    ) -> None:
        super().__init__(items)
        self.type_name = type_name
        self.nil = nil and not self
        self.stringer = stringer
        self.marshaler = marshaler


class Map(dict[str, Any]):
    """A typed map: `nil`, an optional String(), and `ordered` for Ollama's
    insertion-ordered maps (marshaled in their own order, not sorted)."""

    def __init__(
        self,
        items: Any = (),
        type_name: str = "map[string]interface {}",
        nil: bool = False,
        stringer: Callable[[Map], str] | None = None,
        ordered: bool = False,
    ) -> None:
        super().__init__(items)
        self.type_name = type_name
        self.nil = nil and not self
        self.stringer = stringer
        self.ordered = ordered


@dataclass(frozen=True)
class Pointer:
    """A nil pointer of a named type (`<nil>` when printed)."""

    type_name: str
    target: Any = field(default=None)


def type_name(value: Any) -> str:
    """Go's name for the value's type (for error messages)."""
    if value is None:
        return "interface {}"
    if isinstance(value, Struct | Slice | Map | Pointer):
        return value.type_name
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def stringer_of(value: Any) -> Callable[[Any], str] | None:
    return getattr(value, "stringer", None)

"""The parse tree (text/template/parse's node kinds, as frozen values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Field:  # .A.B
    names: tuple[str, ...]


@dataclass(frozen=True)
class Variable:  # $x.A.B
    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dot:
    pass


@dataclass(frozen=True)
class Nil:
    pass


@dataclass(frozen=True)
class Literal:  # bool, number or string constant
    value: Any
    source: str


@dataclass(frozen=True)
class Function:  # an identifier: a function's name
    name: str


@dataclass(frozen=True)
class Chain:  # (pipe).A.B
    node: Any
    names: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Pipe:
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]
    source: str = ""


@dataclass(frozen=True)
class Action:
    pipe: Pipe


@dataclass(frozen=True)
class Branch:  # if / with / range
    kind: str
    pipe: Pipe
    body: tuple[Any, ...]
    orelse: tuple[Any, ...] | None


@dataclass(frozen=True)
class Break:
    pass


@dataclass(frozen=True)
class Continue:
    pass


Node = Text | Action | Branch | Break | Continue

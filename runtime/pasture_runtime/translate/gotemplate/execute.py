"""text/template's executor (exec.go) over the parse tree: dot, variables
(declared per scope, `=` assigns the nearest), field chains on structs and
maps (missingkey=zero), if / with / range (slices, maps in key order, ints)
with else, break / continue, function calls with `and`/`or` short-circuit."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from . import gofmt
from . import nodes as n
from .errors import TemplateError
from .funcs import BUILTINS, Func, is_true
from .values import Struct, stringer_of, type_name

_MISSING = object()  # Go's missingVal: no final argument from a previous command
# Bounds for templates a client sends (loops over ints, strings doubled by
# printf): past them the render is refused, as a client error.
MAX_STEPS = 500_000
MAX_CHARS = 16 << 20


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    def __init__(self, funcs: Mapping[str, Func]) -> None:
        self.funcs = funcs
        self.vars: list[list[Any]] = []
        self.out: list[str] = []
        self.steps = 0
        self.chars = 0

    def step(self, text: str = "") -> None:
        self.steps += 1
        self.chars += len(text)
        if self.steps > MAX_STEPS:
            raise TemplateError(f"template: more than {MAX_STEPS} steps")
        if self.chars > MAX_CHARS or len(text) > MAX_CHARS:
            raise TemplateError(f"template: output over {MAX_CHARS} characters")

    # -- variables ----------------------------------------------------------
    def set_var(self, name: str, value: Any) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        raise TemplateError(f"undefined variable: {name}")

    def var_value(self, name: str) -> Any:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        raise TemplateError(f"undefined variable: {name}")

    # -- walking --------------------------------------------------------------
    def walk(self, dot: Any, nodes: tuple[Any, ...]) -> None:
        for node in nodes:
            self.step()
            if isinstance(node, n.Text):
                self.step(node.text)
                self.out.append(node.text)
            elif isinstance(node, n.Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    text = gofmt.format_value(value)
                    self.step(text)
                    self.out.append(text)
            elif isinstance(node, n.Branch):
                self.branch(dot, node)
            elif isinstance(node, n.Break):
                raise _Break
            else:
                raise _Continue

    def branch(self, dot: Any, node: n.Branch) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            if node.kind == "range":
                self.range(dot, node, value, len(self.vars))
            elif is_true(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark:]

    def range(self, dot: Any, node: n.Branch, value: Any, mark: int) -> None:
        ran = False
        try:
            for key, elem in _iterate(value, len(node.pipe.decl)):
                ran = True
                self.iteration(node, key, elem, mark)
        except _Break:
            return
        if not ran and node.orelse is not None:
            self.walk(dot, node.orelse)

    def iteration(self, node: n.Branch, key: Any, elem: Any, mark: int) -> None:
        self.step()
        decl = node.pipe.decl
        if node.pipe.is_assign:
            if decl:
                self.set_var(decl[0], key if len(decl) > 1 else elem)
            if len(decl) > 1:
                self.set_var(decl[1], elem)
        elif decl:
            self.vars[len(self.vars) - 1][1] = elem
            if len(decl) > 1:
                self.vars[len(self.vars) - 2][1] = key
        try:
            self.walk(elem, node.body)
        except _Continue:
            pass
        finally:
            del self.vars[mark:]

    # -- evaluation ---------------------------------------------------------
    def pipeline(self, dot: Any, pipe: n.Pipe) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append([name, value])
        return value

    def command(self, dot: Any, cmd: n.Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, n.Field):
            return self.field_chain(dot, dot, first.names, cmd.args, final)
        if isinstance(first, n.Chain):
            return self.field_chain(dot, self.arg(dot, first.node), first.names, cmd.args, final)
        if isinstance(first, n.Function):
            return self.call(dot, first.name, cmd.args[1:], final)
        if isinstance(first, n.Variable):
            value = self.var_value(first.name)
            if first.names:
                return self.field_chain(dot, value, first.names, cmd.args, final)
        elif isinstance(first, n.Nil):
            raise TemplateError("nil is not a command")
        if len(cmd.args) > 1 or final is not _MISSING:
            raise TemplateError(f"can't give argument to non-function {_show(first)}")
        if isinstance(first, n.Variable):
            return value
        return self.arg(dot, first)

    def arg(self, dot: Any, node: Any) -> Any:
        if isinstance(node, n.Dot):
            return dot
        if isinstance(node, n.Nil):
            return None
        if isinstance(node, n.Literal):
            return node.value
        if isinstance(node, n.Pipe):
            return self.pipeline(dot, node)
        return self.command(dot, n.Command((node,)), _MISSING)

    def field_chain(
        self, dot: Any, receiver: Any, names: tuple[str, ...], args: tuple[Any, ...], final: Any
    ) -> Any:
        for name in names[:-1]:
            receiver = self.field(receiver, name, False)
        has_args = len(args) > 1 or final is not _MISSING
        return self.field(receiver, names[-1], has_args)

    def field(self, receiver: Any, name: str, has_args: bool) -> Any:
        if name == "String" and stringer_of(receiver) is not None and not has_args:
            return stringer_of(receiver)(receiver)  # type: ignore[misc]
        if receiver is None:
            raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Struct) and name in receiver.fields:
            if has_args:
                raise TemplateError(f"{name} has arguments but cannot be invoked as function")
            return receiver.fields[name]
        if isinstance(receiver, dict):
            if has_args:
                raise TemplateError(f"{name} is not a method but has arguments")
            return receiver.get(name)
        raise TemplateError(f"can't evaluate field {name} in type {type_name(receiver)}")

    def call(self, dot: Any, name: str, args: tuple[Any, ...], final: Any) -> Any:
        thunks: list[Callable[[], Any]] = [partial(self.arg, dot, a) for a in args]
        if final is not _MISSING:
            thunks.append(partial(_identity, final))
        if name in ("and", "or"):
            if not thunks:
                raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
            for thunk in thunks:
                value = thunk()
                if is_true(value) != (name == "and"):
                    return value
            return value
        fn = self.funcs[name]
        values = [t() for t in thunks]
        try:
            inspect.signature(fn).bind(*values)
        except TypeError:
            raise TemplateError(f"wrong number of args for {name}: got {len(values)}") from None
        try:
            value = fn(*values)
        except TemplateError:
            raise
        except (TypeError, ValueError, LookupError, AttributeError) as e:
            raise TemplateError(f"error calling {name}: {e}") from None
        if isinstance(value, str) and len(value) > MAX_CHARS:
            raise TemplateError(f"template: {name} made a string over {MAX_CHARS} characters")
        self.step()
        return value


def _iterate(value: Any, decls: int) -> Iterator[tuple[Any, Any]]:
    if value is None or getattr(value, "nil", False):
        return
    if isinstance(value, dict):
        yield from gofmt.sorted_items(value)
    elif isinstance(value, list | tuple):
        yield from enumerate(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if decls > 1:
            raise TemplateError(f"can't use {value} to iterate over more than one variable")
        yield from ((None, i) for i in range(value))
    else:
        raise TemplateError(f"range can't iterate over {gofmt.format_value(value)}")


def _identity(value: Any) -> Any:
    return value


def _show(node: Any) -> str:
    if isinstance(node, n.Literal):
        return node.source
    return "." if isinstance(node, n.Dot) else type(node).__name__


def execute(tree: tuple[Any, ...], data: Any, funcs: Mapping[str, Func] | None = None) -> str:
    """The rendered text; a TemplateError where Go's Execute fails."""
    state = _State({**BUILTINS, **(funcs or {})})
    state.vars.append(["$", data])
    try:
        state.walk(data, tree)
    except RecursionError:
        raise TemplateError("template: exceeded maximum template depth") from None
    return "".join(state.out)

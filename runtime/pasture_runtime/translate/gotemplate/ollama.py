"""Ollama's Template (template/template.go): parse with Ollama's functions,
append `{{ .Response }}` to templates that name neither Messages nor
Response, and Execute as Ollama does: Prompt+Suffix for fill-in-the-middle,
the whole conversation to templates that range over `.Messages`, and else
the legacy path (one render per system/user/assistant turn, the last cut
right after its `{{ .Response }}`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import data
from . import nodes as n
from .execute import execute
from .funcs import BUILTINS
from .parser import parse as parse_tree
from .values import Slice

FUNCS = {"toTypeScriptType": data.to_typescript_type}
_RESPONSE = n.Action(n.Pipe((), False, (n.Command((n.Field(("Response",)),)),)))


@dataclass(frozen=True)
class Values:
    """template.Values: Ollama-shaped messages and tools (JSON dicts)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    prompt: str = ""
    suffix: str = ""
    think: bool = False
    think_level: str = ""
    is_think_set: bool = False


@dataclass(frozen=True)
class OllamaTemplate:
    source: str
    tree: tuple[Any, ...]
    vars: frozenset[str]

    def execute(self, values: Values) -> str:
        think = {
            "Think": values.think,
            "ThinkLevel": values.think_level,
            "IsThinkSet": values.is_think_set,
        }
        if values.prompt and values.suffix:
            return self._run(
                self.tree,
                {"Prompt": values.prompt, "Suffix": values.suffix, "Response": "", **think},
            )
        system, messages = collate(values.messages)
        if "messages" in self.vars:
            return self._run(
                self.tree,
                {
                    "System": system,
                    "Messages": Slice(
                        [data.message(m) for m in messages],
                        "[]*template.templateMessage",
                        nil=not messages,
                    ),
                    "Tools": data.tools(values.tools),
                    "Response": "",
                    **think,
                },
            )
        return self._legacy(messages, think)

    def _legacy(self, messages: list[dict[str, Any]], think: dict[str, Any]) -> str:
        out: list[str] = []
        turn = {"System": "", "Prompt": "", "Response": ""}
        for m in messages:
            role, content = m.get("role"), str(m.get("content") or "")
            flush = role == "system" and (turn["Prompt"] or turn["Response"])
            if flush or (role == "user" and turn["Response"]):
                out.append(self._run(self.tree, {**turn, **think}))
                turn = {"System": "", "Prompt": "", "Response": ""}
            key = {"system": "System", "user": "Prompt", "assistant": "Response"}.get(str(role))
            if key:
                turn[key] = content
        out.append(self._run(cut_after_response(self.tree), {**turn, **think}))
        return "".join(out)

    def _run(self, tree: tuple[Any, ...], values: dict[str, Any]) -> str:
        return execute(tree, values, FUNCS)


def collate(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Ollama's collate: all system contents joined, consecutive messages of
    one role (but tool) merged with a blank line."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "system":
            system.append(str(m.get("content") or ""))
        if out and out[-1].get("role") == m.get("role") and m.get("role") != "tool":
            last = out[-1]
            out[-1] = {
                **last,
                "content": f"{last.get('content') or ''}\n\n{m.get('content') or ''}",
            }
        else:
            out.append(m)
    return "\n\n".join(system), out


def identifiers(nodes: Any) -> list[str]:
    """Ollama's Identifiers: field and variable names anywhere in the tree."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, n.Action):
            out += _pipe_identifiers(node.pipe)
        elif isinstance(node, n.Branch):
            out += _pipe_identifiers(node.pipe) + identifiers(node.body)
            out += identifiers(node.orelse or ())
    return out


def _pipe_identifiers(pipe: n.Pipe) -> list[str]:
    out: list[str] = []
    for cmd in pipe.cmds:
        for arg in cmd.args:
            if isinstance(arg, n.Field):
                out += arg.names
            elif isinstance(arg, n.Variable):
                out += [arg.name, *arg.names]
            elif isinstance(arg, n.Pipe):
                out += _pipe_identifiers(arg)
    return out


class _Cutter:
    """Ollama's deleteNode: drop everything after the first `.Response` field
    (the pipes of if/with/range are not searched, as in Ollama)."""

    def __init__(self) -> None:
        self.cut = False

    def nodes(self, nodes: tuple[Any, ...]) -> tuple[Any, ...]:
        out = []
        for node in nodes:
            kept = self.node(node)
            if kept is not None:
                out.append(kept)
        return tuple(out)

    def node(self, node: Any) -> Any:
        if self.cut:
            return None
        if isinstance(node, n.Action):
            pipe = self.pipe(node.pipe)
            return None if pipe is None else n.Action(pipe)
        if isinstance(node, n.Branch):
            body = self.nodes(node.body)
            orelse = None if node.orelse is None or self.cut else self.nodes(node.orelse)
            return n.Branch(node.kind, node.pipe, body, orelse)
        return node

    def pipe(self, pipe: n.Pipe) -> n.Pipe | None:
        cmds = []
        for cmd in pipe.cmds:
            args = []
            for arg in cmd.args:
                if self.cut:
                    continue
                if isinstance(arg, n.Field) and "Response" in arg.names:
                    self.cut = True
                args.append(arg)
            if not args:
                return None
            cmds.append(n.Command(tuple(args)))
        return n.Pipe(pipe.decl, pipe.is_assign, tuple(cmds), pipe.source)


def cut_after_response(tree: tuple[Any, ...]) -> tuple[Any, ...]:
    return _Cutter().nodes(tree)


def parse(source: str) -> OllamaTemplate:
    """Ollama's template.Parse (CRLF kept as given: Ollama normalizes only its own files)."""
    tree = parse_tree(source, {*BUILTINS, *FUNCS})
    names = frozenset(i.lower() for i in identifiers(tree))
    if "messages" not in names and "response" not in names:
        tree = (*tree, _RESPONSE)
    return OllamaTemplate(source, tree, names)

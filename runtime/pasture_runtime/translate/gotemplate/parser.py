"""Go text/template's parser (text/template/parse/parse.go) for the actions
Ollama's templates use: output, if / else if / else, with / else with, range
(with `$i, $v :=`), break, continue, variable declaration and assignment,
pipelines, parenthesized pipelines and field chains. `define`, `template` and
`block` are refused (Unsupported): Ollama templates never name sub-templates."""

from __future__ import annotations

from collections.abc import Collection

from . import literals
from . import nodes as n
from .errors import TemplateError, Unsupported
from .funcs import UNSUPPORTED
from .lexer import Token, lex

_OPERAND_START = frozenset(
    (
        "bool",
        "char",
        "dot",
        "field",
        "ident",
        "number",
        "rawstring",
        "string",
        "variable",
        "lparen",
    )
)


class _Parser:
    def __init__(self, tokens: list[Token], functions: Collection[str]) -> None:
        self.tokens = tokens
        self.i = 0
        self.functions = functions
        self.vars = ["$"]
        self.range_depth = 0

    # -- token stream -----------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i] if self.i < len(self.tokens) else Token("eof", "", 0)

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def peek_non_space(self) -> Token:
        while self.peek().kind == "space":
            self.i += 1
        return self.peek()

    def next_non_space(self) -> Token:
        self.peek_non_space()
        return self.next()

    def error(self, tok: Token, msg: str) -> TemplateError:
        return TemplateError(f"template: :{tok.line}: {msg}")

    def expect(self, kind: str, context: str) -> Token:
        tok = self.next_non_space()
        if tok.kind != kind:
            raise self.error(tok, f"unexpected {_describe(tok)} in {context}")
        return tok

    # -- lists and actions ------------------------------------------------
    def parse(self) -> tuple[n.Node, ...]:
        return self.item_list(top=True)[0]

    def item_list(self, top: bool = False) -> tuple[tuple[n.Node, ...], str]:
        """Nodes up to {{end}} / {{else}} (returned as the stop word), or EOF at top level."""
        out: list[n.Node] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                if top:
                    return tuple(out), "eof"
                raise self.error(tok, "unexpected EOF")
            if tok.kind == "text":
                out.append(n.Text(tok.value))
                continue
            node = self.action(tok)
            if isinstance(node, str):
                if top:
                    raise self.error(tok, f"unexpected {{{{{node}}}}}")
                return tuple(out), node
            out.append(node)

    def action(self, open_tok: Token) -> n.Node | str:
        tok = self.peek_non_space()
        if tok.kind == "keyword" and tok.value != "nil":
            self.next()
            return self.keyword(tok)
        return n.Action(self.pipeline("command", "close"))

    def keyword(self, tok: Token) -> n.Node | str:
        word = tok.value
        if word in ("define", "template", "block"):
            raise Unsupported(f"{{{{{word}}}}}")
        if word in ("end", "else"):
            if word == "end" or self.peek_non_space().kind != "keyword":
                self.expect("close", word)
            return word
        if word in ("break", "continue"):
            if self.range_depth == 0:
                raise self.error(tok, f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect("close", word)
            return n.Break() if word == "break" else n.Continue()
        return self.control(word)

    def control(self, kind: str) -> n.Branch:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(kind, "close")
            if kind == "range":
                self.range_depth += 1
            body, stop = self.item_list()
            if kind == "range":
                self.range_depth -= 1
            orelse: tuple[n.Node, ...] | None = None
            if stop == "else":
                orelse = self.else_list(kind)
            return n.Branch(kind, pipe, body, orelse)
        finally:
            del self.vars[mark:]

    def else_list(self, kind: str) -> tuple[n.Node, ...]:
        tok = self.peek_non_space()
        if tok.kind == "keyword" and tok.value in ("if", "with") and tok.value == kind:
            self.next()
            return (self.control(kind),)  # else if: one {{end}} closes the chain
        if tok.kind == "keyword" and tok.value in ("if", "with"):
            raise self.error(tok, f"unexpected {tok.value} in {kind}'s else")
        orelse, stop = self.item_list()
        if stop != "end":
            raise self.error(tok, "expected end; found {{else}}")
        return orelse

    # -- pipelines --------------------------------------------------------
    def pipeline(self, context: str, end: str) -> n.Pipe:
        start = self.i
        decl, is_assign = self.declarations(context)
        cmds: list[n.Command] = []
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                break
            if tok.kind not in _OPERAND_START:
                raise self.error(tok, f"unexpected {_describe(tok)} in {context}")
            self.i -= 1
            cmds.append(self.command())
        if not cmds:
            raise self.error(tok, f"missing value for {context}")
        for k, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], n.Literal | n.Dot | n.Nil):
                raise self.error(tok, f"non executable command in pipeline stage {k}")
        source = "".join(t.value for t in self.tokens[start : self.i - 1]).strip()
        return n.Pipe(tuple(decl), is_assign, tuple(cmds), source)

    def declarations(self, context: str) -> tuple[list[str], bool]:
        decl: list[str] = []
        while self.peek_non_space().kind == "variable":
            save = self.i
            var = self.next()
            after = self.peek_non_space()
            if after.kind in ("declare", "assign"):
                self.next()
                decl.append(var.value)
                self.vars.append(var.value)
                return decl, after.kind == "assign"
            if after.kind == "comma" and context == "range" and not decl:
                self.next()
                decl.append(var.value)
                self.vars.append(var.value)
                continue
            if after.kind == "comma":
                raise self.error(after, f"too many declarations in {context}")
            self.i = save
            break
        if decl:
            raise self.error(self.peek(), "range can only initialize variables")
        return decl, False

    def command(self) -> n.Command:
        args: list[object] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("close", "rparen"):
                self.i -= 1
            elif tok.kind != "pipe":
                raise self.error(tok, f"unexpected {_describe(tok)} in operand")
            break
        if not args:
            raise self.error(self.peek(), "empty command")
        return n.Command(tuple(args))

    def operand(self) -> object:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        names: list[str] = []
        while self.peek().kind == "field":
            names.extend(self.next().value[1:].split("."))
        if isinstance(node, n.Field):
            return n.Field(node.names + tuple(names))
        if isinstance(node, n.Variable):
            return n.Variable(node.name, node.names + tuple(names))
        if isinstance(node, n.Literal | n.Nil | n.Dot):
            raise self.error(self.peek(), f"unexpected . after term {node}")
        return n.Chain(node, tuple(names))

    def term(self) -> object:
        tok = self.next_non_space()
        kind, value = tok.kind, tok.value
        if kind == "ident":
            if value in UNSUPPORTED:
                raise Unsupported(f"the {value} function")
            if value not in self.functions:
                raise self.error(tok, f'function "{value}" not defined')
            return n.Function(value)
        if kind == "dot":
            return n.Dot()
        if kind == "keyword" and value == "nil":
            return n.Nil()
        if kind == "variable":
            if value not in self.vars:
                raise self.error(tok, f'undefined variable "{value}"')
            return n.Variable(value)
        if kind == "field":
            return n.Field(tuple(value[1:].split(".")))
        return self.constant(tok)

    def constant(self, tok: Token) -> object:
        kind, value = tok.kind, tok.value
        if kind == "bool":
            return n.Literal(value == "true", value)
        if kind == "number":
            return n.Literal(literals.number(value), value)
        if kind == "char":
            return n.Literal(literals.char(value), value)
        if kind in ("string", "rawstring"):
            return n.Literal(literals.unquote(value), value)
        if kind == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        self.i -= 1
        return None


def _describe(tok: Token) -> str:
    names = {"close": "}}", "eof": "EOF", "space": "space"}
    return f"<{names.get(tok.kind, tok.value)}>"


def parse(source: str, functions: Collection[str]) -> tuple[n.Node, ...]:
    """The template's parse tree; TemplateError / Unsupported otherwise."""
    try:
        return _Parser(lex(source), functions).parse()
    except RecursionError:
        raise TemplateError("template: nested too deeply") from None

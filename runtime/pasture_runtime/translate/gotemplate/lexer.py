"""Go text/template's lexer (text/template/parse/lex.go), for the subset the
parser takes: text, actions with `-` trimming, comments, and inside actions
fields, variables, identifiers, keywords, strings, numbers, `( ) | := = ,`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TemplateError

SPACE = " \t\r\n"
KEYWORDS = frozenset(
    (
        "block",
        "break",
        "continue",
        "define",
        "else",
        "end",
        "if",
        "range",
        "nil",
        "template",
        "with",
    )
)


@dataclass(frozen=True)
class Token:
    kind: str  # text | open | close | space | field | variable | dot | ident | keyword |
    # bool | string | number | char | pipe | declare | assign | lparen | rparen | comma
    value: str
    line: int


_NUMBER = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]+(\.[0-9a-fA-F_]*)?([pP][+-]?\d+)?|0[oObB][0-7_]+"
    r"|(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d+)?)i?"
)
_STRING = re.compile(r'"(\\.|[^"\\\n])*"')
_CHAR = re.compile(r"'(\\.|[^'\\\n])+'")
_WORD = re.compile(r"[A-Za-z0-9_]*")


def _is_terminator(src: str, pos: int) -> bool:
    return pos >= len(src) or src[pos] in SPACE + ".,|:()" or src.startswith("}}", pos)


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.tokens: list[Token] = []

    @property
    def line(self) -> int:
        return self.src.count("\n", 0, self.pos) + 1

    def emit(self, kind: str, value: str) -> None:
        self.tokens.append(Token(kind, value, self.line))

    def run(self) -> list[Token]:
        while self.pos < len(self.src):
            self.lex_text()
        return self.tokens

    def lex_text(self) -> None:
        at = self.src.find("{{", self.pos)
        if at < 0:
            self.emit("text", self.src[self.pos :])
            self.pos = len(self.src)
            return
        text = self.src[self.pos : at]
        after = at + 2
        trim_left = self.src[after : after + 1] == "-" and self.src[after + 1 : after + 2] in (
            " ",
            "\t",
            "\r",
            "\n",
        )
        if trim_left:
            text = text.rstrip(SPACE)
            after += 2
        if text:
            self.emit("text", text)
        self.pos = after
        if self.src.startswith("/*", after):
            self.lex_comment()
            return
        self.emit("open", "{{")
        self.lex_action()

    def at_right_delim(self) -> tuple[bool, bool]:
        if self.src.startswith(" -}}", self.pos) or self.src.startswith("\t-}}", self.pos):
            return True, True
        if self.src.startswith("\r-}}", self.pos) or self.src.startswith("\n-}}", self.pos):
            return True, True
        return self.src.startswith("}}", self.pos), False

    def close(self, trim: bool) -> None:
        self.pos += 4 if trim else 2
        if trim:
            while self.pos < len(self.src) and self.src[self.pos] in SPACE:
                self.pos += 1

    def lex_comment(self) -> None:
        end = self.src.find("*/", self.pos + 2)
        if end < 0:
            raise TemplateError(f"template: :{self.line}: unclosed comment")
        self.pos = end + 2
        delim, trim = self.at_right_delim()
        if not delim:
            raise TemplateError(f"template: :{self.line}: comment ends before closing delimiter")
        self.close(trim)

    def lex_action(self) -> None:
        depth = 0
        while True:
            delim, trim = self.at_right_delim()
            if delim:
                if depth:
                    raise TemplateError(f"template: :{self.line}: unclosed left paren")
                self.emit("close", "}}")
                self.close(trim)
                return
            depth = self.lex_item(depth)

    def lex_item(self, depth: int) -> int:
        src, pos = self.src, self.pos
        if pos >= len(src):
            raise TemplateError(f"template: :{self.line}: unclosed action")
        c = src[pos]
        if c in SPACE:
            end = pos
            while end < len(src) and src[end] in SPACE and not self._trim_at(end):
                end += 1
            self.emit_span("space", max(end, pos + 1))
        elif c in "=|,()" or src.startswith(":=", pos):
            kind = {"=": "assign", "|": "pipe", ",": "comma", "(": "lparen", ")": "rparen"}
            self.emit_span(kind.get(c, "declare"), pos + (2 if c == ":" else 1))
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth < 0:
                raise TemplateError(f"template: :{self.line}: unexpected right paren")
        elif c in "\"`'":
            self.lex_quoted(c)
        elif c in "$." and not (c == "." and src[pos + 1 : pos + 2].isdigit()):
            self.lex_field_or_variable(c)
        elif c in "+-" or c.isdigit() or c == ".":
            self.lex_regex(_NUMBER, "number", "bad number syntax")
        elif c.isalnum() or c == "_":
            self.lex_identifier()
        else:
            raise TemplateError(f"template: :{self.line}: unrecognized character in action: {c!r}")
        return depth

    def _trim_at(self, pos: int) -> bool:
        return self.src.startswith("-}}", pos + 1)

    def emit_span(self, kind: str, end: int) -> None:
        self.emit(kind, self.src[self.pos : end])
        self.pos = end

    def lex_regex(self, pattern: re.Pattern[str], kind: str, error: str) -> None:
        m = pattern.match(self.src, self.pos)
        if not m or not _is_terminator(self.src, m.end()):
            raise TemplateError(f"template: :{self.line}: {error}")
        self.emit_span(kind, m.end())

    def lex_quoted(self, quote: str) -> None:
        if quote == "`":
            end = self.src.find("`", self.pos + 1)
            if end < 0:
                raise TemplateError(f"template: :{self.line}: unterminated raw quoted string")
            self.emit_span("rawstring", end + 1)
            return
        pattern, kind = (_STRING, "string") if quote == '"' else (_CHAR, "char")
        m = pattern.match(self.src, self.pos)
        if not m:
            raise TemplateError(f"template: :{self.line}: unterminated quoted string")
        self.emit_span(kind, m.end())

    def lex_field_or_variable(self, start: str) -> None:
        m = _WORD.match(self.src, self.pos + 1)
        assert m is not None
        if not _is_terminator(self.src, m.end()):
            raise TemplateError(f"template: :{self.line}: bad character in {start}-name")
        if m.end() == self.pos + 1:
            self.emit_span("variable" if start == "$" else "dot", m.end())
        else:
            self.emit_span("variable" if start == "$" else "field", m.end())

    def lex_identifier(self) -> None:
        m = _WORD.match(self.src, self.pos)
        assert m is not None
        if not _is_terminator(self.src, m.end()):
            raise TemplateError(f"template: :{self.line}: bad character {self.src[m.end()]!r}")
        word = m.group()
        kind = "keyword" if word in KEYWORDS else "bool" if word in ("true", "false") else "ident"
        self.emit_span(kind, m.end())


def lex(src: str) -> list[Token]:
    """The template's tokens; a TemplateError for what Go's lexer refuses."""
    return _Lexer(src).run()

"""Ollama's template language: Go's text/template, rendered in Python.

A faithful subset (lexer.py, parser.py, execute.py, funcs.py, gofmt.py) of
Go's text/template for what Ollama's own templates use, and Ollama's way of
feeding it (ollama.py: the Values, message collation, the legacy
System/Prompt/Response path). What Go accepts but this package does not
render raises Unsupported naming the construct; what Go refuses raises
TemplateError. Pure: no engine, no I/O."""

from .errors import TemplateError, Unsupported
from .ollama import OllamaTemplate, Values, parse

__all__ = ["OllamaTemplate", "TemplateError", "Unsupported", "Values", "parse"]

"""Ollama model names, matched exactly as the runtime matches them
(runtime/pasture_runtime/names.py): `[host/][namespace/]model[:tag]`, tag
`latest` by default, case-insensitive, `library/` prefixes dropped."""

from __future__ import annotations

from pasture_access.names import normalize

__all__ = ["display_name", "normalize"]


def display_name(name: str) -> str:
    """`tiny` -> `tiny:latest`, case kept (Ollama lists names with the tag)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"

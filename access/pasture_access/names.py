"""Ollama model names, matched as Ollama matches them:
`[host/][namespace/]model[:tag]`, tag `latest` by default, case-insensitive,
`library/` prefixes dropped."""

from __future__ import annotations

_DEFAULT_PREFIXES = ("registry.ollama.ai/library/", "library/")


def normalize(name: str) -> str:
    """Canonical lookup key: lower-cased, `:latest` added when there is no tag.

    A tag is the part after the last `:` that follows the last `/` (a host may
    carry a port, `host:5000/model`)."""
    n = name.strip().lower()
    for prefix in _DEFAULT_PREFIXES:
        if n.startswith(prefix):
            n = n[len(prefix) :]
    last = n.rsplit("/", 1)[-1]
    if ":" not in last:
        n += ":latest"
    return n

"""The library catalog: Ollama names -> weight sources, as data.

The catalog is a YAML file (operator/pasture_operator/catalog.yaml is the
packaged default; the chart ships it as a ConfigMap and the operator reads the
file named by PASTURE_CATALOG_FILE), validated when it is loaded so a bad entry
stops the operator at start with the entry's name, not at the first Model.
A name without a tag means ":latest", which maps to the entry Ollama's library
makes the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_ENV = "PASTURE_CATALOG_FILE"
DEFAULT_FILE = Path(__file__).with_name("catalog.yaml")


class CatalogError(ValueError):
    """The catalog file is not valid; the message names the entry."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    # A Model spec.source: {huggingFace: {repo, revision}} or {url: {url, sha256}}.
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def repo(self) -> str:
        hf = self.source.get("huggingFace") or {}
        return str(hf.get("repo") or "")

    @property
    def revision(self) -> str:
        hf = self.source.get("huggingFace") or {}
        return str(hf.get("revision") or "main")


def normalize(name: str) -> str:
    """'llama3.2' -> 'llama3.2:latest'; names are case-insensitive in Ollama."""
    name = name.strip().lower()
    return name if ":" in name else f"{name}:latest"


def _entry(name: str, raw: Any) -> CatalogEntry:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"catalog entry {name!r}: must be a mapping")
    source = raw.get("source")
    if not isinstance(source, Mapping) or len(source) != 1:
        raise CatalogError(f"catalog entry {name!r}: source must set one of huggingFace, url")
    kind, body = next(iter(source.items()))
    if kind == "huggingFace" and isinstance(body, Mapping) and body.get("repo"):
        return CatalogEntry(normalize(name), {"huggingFace": dict(body)})
    if kind == "url" and isinstance(body, Mapping) and body.get("url"):
        return CatalogEntry(normalize(name), {"url": dict(body)})
    raise CatalogError(
        f"catalog entry {name!r}: source.{kind} needs repo (huggingFace) or url (url)"
    )


def parse(text: str) -> dict[str, CatalogEntry]:
    """A catalog file's entries by normalized name; CatalogError when invalid."""
    data = yaml.safe_load(text) or {}
    entries = data.get("entries") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping):
        raise CatalogError("catalog: a top-level `entries` mapping is required")
    return {normalize(str(n)): _entry(str(n), raw) for n, raw in entries.items()}


@cache
def load(path: str | None = None) -> dict[str, CatalogEntry]:
    """The catalog in force: PASTURE_CATALOG_FILE's, else the packaged default."""
    chosen = Path(path or os.environ.get(CATALOG_ENV) or DEFAULT_FILE)
    return parse(chosen.read_text())


def resolve(name: str) -> CatalogEntry | None:
    """The entry for a library name, or None when unknown."""
    return load().get(normalize(name))

"""The library catalog: Ollama names -> weight sources and serving defaults, as data.

The catalog is YAML (operator/pasture_operator/catalog.yaml is the packaged
default; the chart ships a copy of it as a ConfigMap, with the release's
`catalog.extraEntries` in a second file, and points PASTURE_CATALOG_FILE at both,
separated by ':'). Later files replace earlier files' entries of the same name.
It is validated when loaded (catalog_entry.py), and the operator loads it at
start, so a bad entry stops the operator with the entry's name, not at the
first Model. A name without a tag means ":latest".

A file holds `entries:` (name -> entry) and may name `tokenSecret: {name, key}`:
the Secret (in the Model's namespace) gated entries use when the Model names none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pasture_operator.catalog_entry import CatalogEntry, CatalogError, validate_entry

__all__ = [
    "CATALOG_ENV",
    "DEFAULT_FILE",
    "CatalogEntry",
    "CatalogError",
    "load",
    "normalize",
    "parse",
    "parse_documents",
    "resolve",
]

CATALOG_ENV = "PASTURE_CATALOG_FILE"
DEFAULT_FILE = Path(__file__).with_name("catalog.yaml")


def normalize(name: str) -> str:
    """'llama3.2' -> 'llama3.2:latest'; names are case-insensitive in Ollama."""
    name = name.strip().lower()
    return name if ":" in name else f"{name}:latest"


def _token_secret(where: str, raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    name = raw.get("name") if isinstance(raw, Mapping) else None
    key = raw.get("key", "token") if isinstance(raw, Mapping) else None
    if not name or not isinstance(name, str) or not key or not isinstance(key, str):
        raise CatalogError(f"{where}: tokenSecret must be {{name, key}} with a non-empty name")
    return {"name": name, "key": key}


def _document(where: str, text: str) -> tuple[dict[str, CatalogEntry], dict[str, str] | None]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise CatalogError(f"{where}: not YAML: {e}") from e
    entries = data.get("entries", {}) if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping):
        raise CatalogError(f"{where}: a top-level `entries` mapping is required")
    unknown = set(data) - {"entries", "tokenSecret"}
    if unknown:
        raise CatalogError(f"{where}: unknown top-level key(s) {sorted(unknown)}")
    out: dict[str, CatalogEntry] = {}
    for raw_name, raw in entries.items():
        name = normalize(str(raw_name))
        if name in out:
            raise CatalogError(f"{where}: entry {name!r} is listed twice")
        try:
            out[name] = validate_entry(name, raw)
        except CatalogError as e:
            raise CatalogError(f"{where}: {e}") from None
    return out, _token_secret(where, data.get("tokenSecret"))


def parse_documents(texts: Sequence[tuple[str, str]]) -> dict[str, CatalogEntry]:
    """Entries of (where, text) documents, later ones replacing earlier entries of
    the same name; gated entries get the last document's tokenSecret default."""
    merged: dict[str, CatalogEntry] = {}
    token: dict[str, str] | None = None
    for where, text in texts:
        entries, doc_token = _document(where, text)
        merged.update(entries)
        token = doc_token or token
    if token is None:
        return merged
    return {n: replace(e, token_secret=token) if e.gated else e for n, e in merged.items()}


def parse(text: str) -> dict[str, CatalogEntry]:
    """A catalog file's entries by normalized name; CatalogError when invalid."""
    return parse_documents([("catalog", text)])


def _read(path: str) -> tuple[str, str]:
    try:
        return f"catalog {path}", Path(path).read_text()
    except OSError as e:
        raise CatalogError(f"catalog {path}: cannot read: {e.strerror}") from e


@cache
def load(path: str | None = None) -> dict[str, CatalogEntry]:
    """The catalog in force: PASTURE_CATALOG_FILE's file(s), else the packaged default."""
    chosen = path or os.environ.get(CATALOG_ENV) or str(DEFAULT_FILE)
    return parse_documents([_read(p) for p in chosen.split(os.pathsep) if p])


def resolve(name: str) -> CatalogEntry | None:
    """The entry for a library name, or None when unknown."""
    return load().get(normalize(name))

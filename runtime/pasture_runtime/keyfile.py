"""The key file, in the gateway's format (gateway/pasture_gateway/keyfile.py;
the two packages share no code, so the format is parsed in each): the plain
list (one key per line, each with every scope) or YAML identities holding
each key's sha256, never the key. The runtime reads id, sha256, tenant,
scopes, models and `gateway` (true for the key the gateway presents: its
x-pasture-* headers are then trusted); limits and tenants are the gateway's
to enforce and are only checked for shape here."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

from .identity import ALL_SCOPES, INFER, Identity

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][-._A-Za-z0-9@]{0,127}$")
ENTRY_FIELDS = frozenset({"id", "sha256", "tenant", "scopes", "models", "limits", "gateway"})


class KeyFileError(ValueError):
    """The file is not a valid key file; the message says where and why."""


@dataclass(frozen=True)
class KeyBook:
    entries: tuple[tuple[bytes, Identity], ...] = ()  # (sha256 hex as bytes, identity)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()


def plain_key_identity(key: str) -> Identity:
    """As the gateway names plain keys: a hash prefix, every scope."""
    return Identity(key_id="key-" + hash_key(key)[:12], tenant="default", scopes=ALL_SCOPES)


def parse(text: str) -> KeyBook:
    if _is_yaml(text):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise KeyFileError(f"key file is not valid YAML: {e}") from None
        return _structured(doc if isinstance(doc, dict) else {})
    keys = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return KeyBook(tuple((hash_key(k).encode(), plain_key_identity(k)) for k in keys))


def _is_yaml(text: str) -> bool:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.startswith(("keys:", "tenants:"))
    return False


def _structured(doc: dict[str, Any]) -> KeyBook:
    unknown = set(doc) - {"keys", "tenants"}
    if unknown:
        raise KeyFileError(f"unknown top-level field(s) {sorted(unknown)}: keys, tenants")
    if not isinstance(doc.get("tenants") or {}, dict):
        raise KeyFileError("`tenants` must map tenant names to their limits")
    raw = doc.get("keys") or []
    if not isinstance(raw, list):
        raise KeyFileError("`keys` must be a list of entries")
    entries: list[tuple[bytes, Identity]] = []
    for i, item in enumerate(raw):
        digest, identity = _entry(item, f"keys[{i}]")
        if any(identity.key_id == e.key_id for _, e in entries):
            raise KeyFileError(f"keys[{i}]: id {identity.key_id!r} is listed twice")
        entries.append((digest.encode(), identity))
    return KeyBook(tuple(entries))


def _entry(item: Any, where: str) -> tuple[str, Identity]:
    if not isinstance(item, dict):
        raise KeyFileError(f"{where}: an entry is a mapping with id, sha256, tenant, ...")
    unknown = set(item) - ENTRY_FIELDS
    if unknown:
        raise KeyFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    key_id = str(item.get("id") or "")
    if not _ID.match(key_id):
        raise KeyFileError(f"{where}: `id` is required (letters, digits, - . _ @)")
    digest = item.get("sha256")
    digest = (
        digest.lower() if isinstance(digest, str) else ""
    )  # quote it: YAML reads 0-9 as a number
    if not _HEX64.match(digest):
        raise KeyFileError(f"{where} ({key_id}): `sha256` must be 64 hex digits, the key's hash")
    scopes = frozenset(_strings(item.get("scopes", [INFER]), f"{where} ({key_id}).scopes"))
    if not scopes <= ALL_SCOPES:
        bad = sorted(scopes - ALL_SCOPES)
        raise KeyFileError(f"{where} ({key_id}): unknown scope(s) {bad}: infer, manage, metrics")
    if not isinstance(item.get("limits") or {}, dict):
        raise KeyFileError(f"{where} ({key_id}).limits: a mapping")
    identity = Identity(
        key_id=key_id,
        tenant=str(item.get("tenant") or "default"),
        scopes=scopes,
        models=tuple(_strings(item.get("models", ["*"]), f"{where} ({key_id}).models")),
        gateway=item.get("gateway") is True,
    )
    return digest, identity


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise KeyFileError(f"{where}: a list of non-empty strings")
    return list(value)

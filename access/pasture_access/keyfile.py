"""The key file, parsed once per change into a KeyBook (pure: text in, values out).

Two formats. The plain list (one key per line, `#` comments) that worked
before keeps working: each key becomes an entry with every scope. The YAML
format holds identities, never keys, only their sha256:

    keys:
      - id: ci-bot                 # shown in logs, audit records, metrics
        sha256: 9f86d08...         # sha256 hex of the key (pasture-gateway hash-key)
        tenant: team-a
        scopes: [infer]            # infer | manage | metrics; default [infer]
        models: ["llama3*", "qwen2.5:7b"]   # names or globs; default ["*"]
        limits: {requestsPerMinute: 60, tokensPerMinute: 100000}
      - id: gateway                # the key the gateway presents to runtimes:
        sha256: "0a1b..."          # its x-pasture-key-id / -tenant headers name the
        gateway: true              # caller (trusted from this key only)
    tenants:
      team-a: {requestsPerMinute: 600, tokensPerMinute: 1000000, priority: 1}
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .identity import ALL_SCOPES, INFER, NO_LIMITS, Identity, Limits, plain_key_identity

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][-._A-Za-z0-9@]{0,127}$")
ENTRY_FIELDS = frozenset({"id", "sha256", "tenant", "scopes", "models", "limits", "gateway"})


class KeyFileError(ValueError):
    """The file is not a valid key file; the message says where and why."""


@dataclass(frozen=True)
class KeyBook:
    """Every identity of one key file version, by the sha256 of its key."""

    entries: tuple[tuple[bytes, Identity], ...]  # (sha256 hex as bytes, identity)
    plain: tuple[str, ...] = ()  # keys of the plain format (the upstream key's file)
    tenants: frozenset[str] = frozenset()  # the configured tenants (metrics labels)


EMPTY = KeyBook(())


def hash_key(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()


def parse(text: str) -> KeyBook:
    """A KeyBook from a key file's text (either format); KeyFileError if invalid."""
    try:
        doc = yaml.safe_load(text) if _is_yaml(text) else None
    except yaml.YAMLError as e:
        raise KeyFileError(f"key file is not valid YAML: {e}") from None
    if isinstance(doc, dict):
        return _structured(doc)
    keys = tuple(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))
    entries = tuple((hash_key(k).encode(), plain_key_identity(k)) for k in keys)
    return KeyBook(entries, keys, frozenset({"default"}) if keys else frozenset())


def _is_yaml(text: str) -> bool:
    """YAML starts (after comments) with `keys:` or `tenants:`; a plain key never does."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.startswith(("keys:", "tenants:"))
    return False


def _structured(doc: dict[str, Any]) -> KeyBook:
    unknown = set(doc) - {"keys", "tenants"}
    if unknown:
        raise KeyFileError(f"unknown top-level field(s) {sorted(unknown)}: keys, tenants")
    tenants = _tenants(doc.get("tenants") or {})
    raw = doc.get("keys") or []
    if not isinstance(raw, list):
        raise KeyFileError("`keys` must be a list of entries")
    entries: list[tuple[bytes, Identity]] = []
    ids: set[str] = set()
    for i, item in enumerate(raw):
        identity, digest = _entry(item, i, tenants)
        if identity.key_id in ids:
            raise KeyFileError(f"keys[{i}]: id {identity.key_id!r} is listed twice")
        ids.add(identity.key_id)
        entries.append((digest.encode(), identity))
    names = frozenset(tenants) | {ident.tenant for _, ident in entries}
    return KeyBook(tuple(entries), (), names)


def _entry(item: Any, i: int, tenants: Mapping[str, Limits]) -> tuple[Identity, str]:
    where = f"keys[{i}]"
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
    tenant = str(item.get("tenant") or "default")
    scopes = frozenset(_strings(item.get("scopes", [INFER]), f"{where} ({key_id}).scopes"))
    if not scopes <= ALL_SCOPES:
        bad = sorted(scopes - ALL_SCOPES)
        raise KeyFileError(f"{where} ({key_id}): unknown scope(s) {bad}: infer, manage, metrics")
    models = tuple(_strings(item.get("models", ["*"]), f"{where} ({key_id}).models"))
    limits = _limits(item.get("limits"), f"{where} ({key_id}).limits")
    identity = Identity(
        key_id=key_id,
        tenant=tenant,
        scopes=scopes,
        models=models,
        limits=limits,
        tenant_limits=tenants.get(tenant, NO_LIMITS),
        gateway=item.get("gateway") is True,
    )
    return identity, digest


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise KeyFileError(f"{where}: a list of non-empty strings")
    return list(value)


def _tenants(raw: Any) -> dict[str, Limits]:
    if not isinstance(raw, dict):
        raise KeyFileError("`tenants` must map tenant names to their limits")
    return {str(name): _limits(spec, f"tenants.{name}") for name, spec in raw.items()}


def _limits(raw: Any, where: str) -> Limits:
    if raw is None:
        return NO_LIMITS
    if not isinstance(raw, dict):
        raise KeyFileError(f"{where}: a mapping (requestsPerMinute, tokensPerMinute, priority)")
    unknown = set(raw) - {"requestsPerMinute", "tokensPerMinute", "priority"}
    if unknown:
        raise KeyFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    rpm, tpm, priority = (
        raw.get("requestsPerMinute"),
        raw.get("tokensPerMinute"),
        raw.get("priority", 0),
    )
    for name, value in (("requestsPerMinute", rpm), ("tokensPerMinute", tpm)):
        if value is not None and (type(value) is not int or value < 1):
            raise KeyFileError(f"{where}.{name}: a whole number of at least 1")
    if type(priority) is not int:
        raise KeyFileError(f"{where}.priority: a whole number")
    return Limits(requests_per_minute=rpm, tokens_per_minute=tpm, priority=priority)

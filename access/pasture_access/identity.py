"""Who is calling: the identity an API key resolves to (keyfile.py), with the
scopes it holds, the models it may use and its limits. Plain keys (a key per
line, as round 1 took them) resolve to an identity with every scope, so
existing key files keep working."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .names import normalize

INFER = "infer"
MANAGE = "manage"
METRICS = "metrics"
ALL_SCOPES: frozenset[str] = frozenset({INFER, MANAGE, METRICS})


@dataclass(frozen=True, slots=True)
class Limits:
    """Per key or per tenant; None means unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None  # prompt + output, from the engine's own counts
    priority: int = 0  # higher is served first when a model is saturated


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Identity:
    key_id: str  # never the key itself: an id from the key file, or a hash prefix
    tenant: str
    scopes: frozenset[str]
    models: tuple[str, ...] = ("*",)  # names or globs this key may use
    limits: Limits = NO_LIMITS  # this key's own
    tenant_limits: Limits = NO_LIMITS  # shared by every key of the tenant
    gateway: bool = False  # a gateway's key: its x-pasture-* headers name the caller
    via: str | None = None  # the gateway key's id, for a caller a gateway forwarded

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def allows(self, model: str) -> bool:
        """Whether this key may use `model` (decided on the name alone, before
        any lookup, so the answer says nothing about which models exist)."""
        return self.models == ("*",) or model_allowed(self.models, model)

    def forwarded(self, key_id: str | None, tenant: str | None) -> Identity:
        """The caller a gateway names (scopes as the gateway's key: the gateway
        enforced the caller's own); self for any other key or no headers."""
        if not self.gateway or not key_id:
            return self
        return Identity(
            key_id=key_id[:128], tenant=(tenant or "default")[:128], scopes=self.scopes,
            via=self.key_id,
        )  # fmt: skip


def model_allowed(patterns: tuple[str, ...], model: str) -> bool:
    """`model` matches a name or glob of `patterns`, with Ollama's name rules:
    case-insensitive, a bare name means `:latest` (`llama3` allows
    `llama3:latest`, not `llama3:8b`; `llama3:*` or `llama3*` allow every tag)."""
    name = normalize(model)
    return any(fnmatchcase(name, _pattern(p)) for p in patterns)


def _pattern(pattern: str) -> str:
    if any(c in pattern for c in "*?["):
        return pattern.strip().lower()
    return normalize(pattern)


def plain_key_identity(key: str) -> Identity:
    """A key from the plain list: all scopes, its own tenant, named by a hash
    prefix so logs and audit records can tell keys apart without holding one."""
    key_id = "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    return Identity(key_id=key_id, tenant="default", scopes=ALL_SCOPES)

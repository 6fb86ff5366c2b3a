"""Who is calling the runtime: the identity its API key resolves to (auth.py),
or, for a request forwarded by the gateway with the gateway's own key (an
entry marked `gateway: true`), the gateway's caller named in the
x-pasture-key-id / x-pasture-tenant headers. Those headers are trusted from
nothing else: any other caller could write them.

The middleware sets the current request's Call in a context variable, read
by the log formatter (logs.py), the model check (usecases/common.py) and the
audit record (audit.py). Pure: no web framework."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .names import normalize

INFER = "infer"
MANAGE = "manage"
METRICS = "metrics"
ALL_SCOPES: frozenset[str] = frozenset({INFER, MANAGE, METRICS})


@dataclass(frozen=True, slots=True)
class Identity:
    key_id: str  # never the key itself
    tenant: str
    scopes: frozenset[str]
    models: tuple[str, ...] = ("*",)
    gateway: bool = False  # a gateway's key: its x-pasture-* headers name the caller
    via: str | None = None  # the gateway key's id, for a forwarded caller

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def allows(self, model: str) -> bool:
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


# No keys configured: the runtime is open, as Ollama is (every scope).
ANONYMOUS = Identity(key_id="anonymous", tenant="anonymous", scopes=ALL_SCOPES)


def model_allowed(patterns: tuple[str, ...], model: str) -> bool:
    """As the gateway matches (gateway/pasture_gateway/identity.py): Ollama's
    name rules, a bare name means `:latest`, globs with * ? [...]."""
    name = normalize(model)
    return any(fnmatchcase(name, _pattern(p)) for p in patterns)


def _pattern(pattern: str) -> str:
    if any(c in pattern for c in "*?["):
        return pattern.strip().lower()
    return normalize(pattern)


@dataclass(slots=True)
class Call:
    """The current request's caller and, once resolved, the model it asked for."""

    identity: Identity
    model: str | None = None


call_var: contextvars.ContextVar[Call | None] = contextvars.ContextVar("pasture_call", default=None)


def permit_model(name: str) -> bool:
    """Whether the current caller may use `name` (decided on the name alone,
    before any lookup); notes the name for the audit record."""
    call = call_var.get()
    if call is None:
        return True
    call.model = name
    return call.identity.allows(name)


def model_forbidden_message(name: str) -> str:
    return f"forbidden: this API key may not use model {name!r}"

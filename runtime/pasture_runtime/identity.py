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

from pasture_access.identity import ALL_SCOPES, INFER, MANAGE, METRICS, Identity, model_allowed

__all__ = [
    "ALL_SCOPES",
    "ANONYMOUS",
    "INFER",
    "MANAGE",
    "METRICS",
    "Call",
    "Identity",
    "call_var",
    "may_see",
    "model_allowed",
    "permit_model",
]

# No keys configured: the runtime is open, as Ollama is (every scope).
ANONYMOUS = Identity(key_id="anonymous", tenant="anonymous", scopes=ALL_SCOPES)


@dataclass(slots=True)
class Call:
    """The current request's caller and, once resolved, the model it asked for."""

    identity: Identity
    model: str | None = None


call_var: contextvars.ContextVar[Call | None] = contextvars.ContextVar("pasture_call", default=None)


def may_see(name: str) -> bool:
    """Whether the current caller's listings (/api/tags, /api/ps, /v1/models)
    show `name`: only what its model globs allow, so a listing reveals no
    model the key may not use (the gateway filters its own listings alike)."""
    call = call_var.get()
    return call is None or call.identity.allows(name)


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

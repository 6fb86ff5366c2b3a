"""Who is calling: the identity an API key resolves to, attached to the ASGI
scope by the middleware (scope["state"]["identity"]) and read by every layer
that needs it (scopes for management, tenant for limits, fairness and audit).

The identity itself, the key file and the model globs are pasture_access's,
shared with the runtime. Without any keys configured
the caller is ANONYMOUS: inference only, unless the operator of the gateway
turns anonymous management on for a trusted namespace."""

from __future__ import annotations

from starlette.types import Scope

from pasture_access.identity import (
    ALL_SCOPES,
    INFER,
    MANAGE,
    METRICS,
    NO_LIMITS,
    Identity,
    Limits,
    model_allowed,
    plain_key_identity,
)

__all__ = [
    "ALL_SCOPES",
    "ANONYMOUS",
    "INFER",
    "MANAGE",
    "METRICS",
    "NO_LIMITS",
    "Identity",
    "Limits",
    "identity_of",
    "model_allowed",
    "plain_key_identity",
]

ANONYMOUS = Identity(key_id="anonymous", tenant="anonymous", scopes=frozenset({INFER, METRICS}))


def identity_of(scope: Scope) -> Identity:
    """The caller of this request (set by GatewayMiddleware before any handler)."""
    found = scope.get("state", {}).get("identity")
    return found if isinstance(found, Identity) else ANONYMOUS

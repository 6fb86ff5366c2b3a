"""The gateway's audit records (pasture_access.audit: the record and its
logger, shared with the runtime).

The record is written once the handler returned, from what it left in the
ASGI scope's state (the contract with the handlers): "status" (int),
"model" (str), "usage" ((prompt tokens, output tokens), the engine's own
counts), "change" (str). Missing keys are written as null."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from pasture_access import audit
from pasture_access.audit import Call, record

from .identity import Identity

__all__ = ["AuditLog", "Call", "from_scope", "record"]


class AuditLog(audit.AuditLog):
    def __init__(self, enabled: bool = True) -> None:
        super().__init__("gateway", enabled)


def from_scope(scope: Scope, seconds: float) -> Call:
    """The call as the handler left it in scope["state"] (read defensively)."""
    state: dict[str, Any] = scope.get("state") or {}
    status, model, change = state.get("status"), state.get("model"), state.get("change")
    client, identity = scope.get("client"), state.get("identity")
    usage = state.get("usage")
    if not (type(usage) is tuple and len(usage) == 2 and type(usage[0]) is type(usage[1]) is int):
        usage = _usage(usage)  # the common case (a tuple of two ints) is kept as is
    # Call(...) would set each field of the frozen dataclass through
    # object.__setattr__ (1.4 us a request); the same instance, filled at once.
    call: Call = object.__new__(Call)
    call.__dict__.update(
        request_id=str(state.get("request_id", "")),
        identity=identity if isinstance(identity, Identity) else None,
        client=str(client[0]) if client else None,
        method=str(scope.get("method", "")),
        endpoint=str(scope.get("path", "")),
        status=status if isinstance(status, int) else None,
        model=model if isinstance(model, str) else None,
        usage=usage,
        seconds=seconds,
        change=change if isinstance(change, str) else None,
    )
    return call


def _usage(value: Any) -> tuple[int, int] | None:
    if isinstance(value, tuple | list) and len(value) == 2 and all(type(v) is int for v in value):
        return int(value[0]), int(value[1])
    return None

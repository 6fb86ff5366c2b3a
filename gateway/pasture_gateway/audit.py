"""The audit log: one JSON record per API call on its own logger
(`pasture.audit`), written to stdout by default so the cluster's log pipeline
ships it. Never the prompt or output text, never the key: who (key id,
tenant, client address), what (endpoint, model, what changed for management
calls), how it ended (status, the engine's prompt and output token counts,
duration). Refusals (401, 403, 429) are records too.

The record is written once the handler returned, from what it left in the
ASGI scope's state (the contract with the handlers): "status" (int),
"model" (str), "usage" ((prompt tokens, output tokens), the engine's own
counts), "change" (str). Missing keys are written as null."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from .identity import Identity

LOGGER = "pasture.audit"


@dataclass(frozen=True)
class Call:
    """One finished API call, as audited."""

    request_id: str
    identity: Identity | None  # None: no valid key (a 401)
    client: str | None
    method: str
    endpoint: str
    status: int | None
    model: str | None
    usage: tuple[int, int] | None
    change: str | None
    seconds: float


def from_scope(scope: Scope, seconds: float) -> Call:
    """The call as the handler left it in scope["state"] (read defensively)."""
    state: dict[str, Any] = scope.get("state") or {}
    status, model, usage, change = (state.get(k) for k in ("status", "model", "usage", "change"))
    client = scope.get("client")
    identity = state.get("identity")
    return Call(
        request_id=str(state.get("request_id", "")),
        identity=identity if isinstance(identity, Identity) else None,
        client=str(client[0]) if client else None,
        method=str(scope.get("method", "")),
        endpoint=str(scope.get("path", "")),
        status=status if isinstance(status, int) else None,
        model=model if isinstance(model, str) else None,
        usage=_usage(usage),
        change=change if isinstance(change, str) else None,
        seconds=seconds,
    )


def _usage(value: Any) -> tuple[int, int] | None:
    if isinstance(value, tuple | list) and len(value) == 2 and all(type(v) is int for v in value):
        return int(value[0]), int(value[1])
    return None


def record(call: Call, now: float | None = None) -> dict[str, Any]:
    """The JSON record of one call (pure)."""
    t = time.time() if now is None else now
    who = call.identity
    prompt, output = call.usage if call.usage else (None, None)
    return {
        "log": LOGGER,  # tells audit records from other lines on the same stream
        "source": "gateway",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        + f".{int(t * 1000) % 1000:03d}Z",
        "request_id": call.request_id,
        "key_id": who.key_id if who else None,
        "tenant": who.tenant if who else None,
        "client": call.client,
        "method": call.method,
        "endpoint": call.endpoint,
        "model": call.model,
        "status": call.status,
        "prompt_tokens": prompt,
        "output_tokens": output,
        "duration_ms": round(call.seconds * 1000, 2),
        "change": call.change,
    }


class AuditLog:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.log = logging.getLogger(LOGGER)
        if not enabled:
            return
        self.log.setLevel(logging.INFO)
        self.log.propagate = False  # its own stream: not re-formatted by the root logger
        if not self.log.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.log.addHandler(handler)

    def write(self, call: Call) -> None:
        if self.enabled:
            self.log.info(json.dumps(record(call), separators=(",", ":")))

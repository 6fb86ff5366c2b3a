"""The audit log's record, the same at the gateway and the runtime: one JSON
record per API call on its own logger (`pasture.audit`), written to stdout by
default so the cluster's log pipeline ships it. Never the prompt or output
text, never the key: who (key id, tenant, client address), what (endpoint,
model, what changed for management calls), how it ended (status, the engine's
prompt and output token counts, duration). Refusals (401, 403, 429) are
records too (docs/tenancy.md)."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

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
    usage: tuple[int, int] | None  # the engine's prompt and output tokens
    seconds: float
    change: str | None = None  # what a management call changed


def record(call: Call, source: str, now: float | None = None) -> dict[str, Any]:
    """The JSON record of one call (pure); `source`: "gateway" or "runtime"."""
    t = time.time() if now is None else now
    who = call.identity
    prompt, output = call.usage if call.usage else (None, None)
    return {
        "log": LOGGER,  # tells audit records from other lines on the same stream
        "source": source,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        + f".{int(t * 1000) % 1000:03d}Z",
        "request_id": call.request_id,
        "key_id": who.key_id if who else None,
        "tenant": who.tenant if who else None,
        "via": who.via if who else None,
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
    def __init__(self, source: str, enabled: bool = True) -> None:
        self.source = source
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

    def audited(self, call: Call) -> bool:
        return self.enabled

    def write(self, call: Call) -> None:
        if self.audited(call):
            self.log.info(json.dumps(record(call, self.source), separators=(",", ":")))

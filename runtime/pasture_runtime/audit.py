"""The runtime's audit log, for direct access: one JSON record per API call
on the `pasture.audit` logger (stdout, its own stream), as the gateway writes
them (gateway/pasture_gateway/audit.py): who, what, how it ended, the
engine's token counts; never prompt or output text, never a key. A call made
with the gateway's own key (`gateway: true`) is the gateway's to audit and
gets no second record here: one record per call across the system."""

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
    request_id: str
    identity: Identity | None  # None: no valid key (a 401)
    client: str | None
    method: str
    endpoint: str
    status: int
    model: str | None
    usage: tuple[int, int] | None  # the engine's prompt and output tokens
    seconds: float


def record(call: Call, now: float | None = None) -> dict[str, Any]:
    t = time.time() if now is None else now
    who = call.identity
    prompt, output = call.usage if call.usage else (None, None)
    return {
        "log": LOGGER,
        "source": "runtime",
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
        "change": None,
    }


class AuditLog:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.log = logging.getLogger(LOGGER)
        if not enabled:
            return
        self.log.setLevel(logging.INFO)
        self.log.propagate = False  # not wrapped by the root logger's JSON formatter
        if not self.log.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.log.addHandler(handler)

    def write(self, call: Call) -> None:
        who = call.identity
        if self.enabled and not (who and (who.via or who.gateway)):  # the gateway's to audit
            self.log.info(json.dumps(record(call), separators=(",", ":")))

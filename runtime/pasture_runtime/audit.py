"""The runtime's audit log, for direct access: one JSON record per API call
on the `pasture.audit` logger (stdout, its own stream), as the gateway writes
them (pasture_access.audit): who, what, how it ended, the
engine's token counts; never prompt or output text, never a key. A call made
with the gateway's own key (`gateway: true`) is the gateway's to audit and
gets no second record here: one record per call across the system."""

from __future__ import annotations

from pasture_access import audit
from pasture_access.audit import Call, record

__all__ = ["AuditLog", "Call", "record"]


class AuditLog(audit.AuditLog):
    def __init__(self, enabled: bool = True) -> None:
        super().__init__("runtime", enabled)

    def audited(self, call: Call) -> bool:
        who = call.identity
        return self.enabled and not (who and (who.via or who.gateway))  # the gateway's to audit

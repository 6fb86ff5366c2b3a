"""metav1.Condition handling (the semantics of apimachinery's meta.SetStatusCondition).

lastTransitionTime changes only when a condition's status changes, so users can
read how long something has been true; reason, message and observedGeneration
follow the latest observation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Condition:
    type: str
    status: Status
    reason: str
    message: str = ""


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    previous: Sequence[Mapping[str, Any]] | None,
    desired: Iterable[Condition],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """New conditions list: desired order, timestamps kept where status did not change."""
    old = {str(c.get("type")): c for c in previous or ()}
    out: list[dict[str, Any]] = []
    for cond in desired:
        before = old.get(cond.type)
        unchanged = before is not None and before.get("status") == cond.status
        out.append(
            {
                "type": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                # The apiserver requires a message field (possibly empty) in our schema.
                "message": cond.message[:32768],
                "lastTransitionTime": str(before["lastTransitionTime"])
                if unchanged and before is not None and before.get("lastTransitionTime")
                else now,
                "observedGeneration": generation,
            }
        )
    return out


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> bool:
    c = find(conditions, type_)
    return c is not None and c.get("status") == "True"

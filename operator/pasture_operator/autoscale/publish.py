"""When the autoscaler's `status.autoscaling` is worth a status write.

Every tick recomputes it, and under load `currentMetric`, `lastBusyTime` and
the message's numbers move every tick: writing each would be a status PATCH
every `interval` per ModelDeployment (and a watch event for every client).
What a person reads and acts on (the decision's reason, the replicas wanted,
missing pods, recent decisions, the last scale) is written promptly, at most
every MIN_INTERVAL seconds; the moving numbers ride along with those writes
and are otherwise refreshed every HEARTBEAT seconds.

`lastBusyTime` is also the scale-down evidence a restarted operator reads back;
since it may be up to HEARTBEAT old, the restore takes it as HEARTBEAT later
(state.py): a restart can delay a scale-down by that much, never hasten one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SIGNIFICANT = (
    "metric",
    "target",
    "reason",
    "desiredReplicas",
    "missingPods",
    "recentDecisions",
    "lastScaleTime",
)
MIN_INTERVAL = 5.0
HEARTBEAT = 60.0


def next_publish(
    published: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    published_at: float | None,
    now: float,
) -> float | None:
    """When to write `current` (monotonic seconds; <= now: now), or None: nothing new."""
    if published is None or published_at is None:
        return now
    if dict(current) == dict(published):
        return None
    if any(published.get(k) != current.get(k) for k in SIGNIFICANT):
        return max(now, published_at + MIN_INTERVAL)
    return published_at + HEARTBEAT

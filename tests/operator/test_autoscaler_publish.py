"""Item 14: when status.autoscaling is worth a write (autoscale/publish.py), table-style."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.autoscale.publish import HEARTBEAT, MIN_INTERVAL, next_publish

BASE: dict[str, Any] = {
    "metric": "inFlightRequests",
    "target": 4.0,
    "reason": "Steady",
    "message": "inFlightRequests 3 for target 4 per replica needs 1",
    "currentMetric": 3.0,
    "desiredReplicas": 1,
    "missingPods": [],
    "recentDecisions": [],
    "lastBusyTime": "2026-01-01T00:00:00Z",
}
T0 = 1000.0


def changed(**kv: Any) -> dict[str, Any]:
    return {**BASE, **kv}


@pytest.mark.parametrize(
    ("current", "now", "expected"),
    [
        # Nothing new: no write.
        (BASE, T0 + 1, None),
        # Moving numbers only: refreshed once a heartbeat.
        (changed(currentMetric=3.5, message="... 3.5 ..."), T0 + 2, T0 + HEARTBEAT),
        (changed(lastBusyTime="2026-01-01T00:00:02Z"), T0 + HEARTBEAT + 1, T0 + HEARTBEAT),
        # What a person acts on: at once, but at most every MIN_INTERVAL.
        (changed(reason="ScaleUp", desiredReplicas=2), T0 + 30, T0 + 30),
        (changed(reason="NoMetrics"), T0 + 1, T0 + MIN_INTERVAL),
        (changed(missingPods=["p"]), T0 + 12, T0 + 12),
        (changed(recentDecisions=[{"reason": "AtMaximum"}]), T0 + 15, T0 + 15),
        (changed(lastScaleTime="2026-01-01T00:00:09Z"), T0 + 15, T0 + 15),
    ],
)
def test_next_publish(current: dict[str, Any], now: float, expected: float | None) -> None:
    assert next_publish(BASE, current, T0, now) == expected


def test_first_status_is_written_at_once() -> None:
    assert next_publish(None, BASE, None, T0) == T0


def test_steady_load_writes_at_most_once_a_minute() -> None:
    """A tick a second for ten minutes with the metric moving every tick."""
    published, at, writes = BASE, T0, 0
    for i in range(1, 601):
        now = T0 + i
        current = changed(currentMetric=float(i % 4), lastBusyTime=f"t{i}")
        due = next_publish(published, current, at, now)
        if due is not None and due <= now:
            published, at, writes = current, now, writes + 1
    assert writes <= 10

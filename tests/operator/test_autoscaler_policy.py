"""The autoscaler's pure parts, table-style, without a cluster."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pasture_operator.autoscale.policy import AutoscalingSpec, Sample, decide
from pasture_operator.autoscale.scrape import parse_load, targets
from pasture_operator.autoscale.state import AutoscaleState, parse_rfc3339, rfc3339
from pasture_operator.handlers.controller import status_patch

SPEC = AutoscalingSpec(
    enabled=True,
    min_replicas=1,
    max_replicas=4,
    target=2.0,
    scale_up_step=1,
    scale_down_delay=60.0,
    interval=5.0,
)
NOW = 1_000_000.0


def win(*loads: float | tuple[float, int], scraped: int = 1) -> list[Sample]:
    """Samples 5 s apart ending at NOW; (load, missing) tuples for unknown pods."""
    out = []
    for i, item in enumerate(loads):
        load, missing = item if isinstance(item, tuple) else (item, 0)
        out.append(Sample(NOW - 5 * (len(loads) - 1 - i), load, scraped, missing))
    return out


CASES: list[tuple[str, list[Sample], int, dict[str, Any], float | None, int, str]] = [
    # label, window, current, spec overrides, last_busy, desired, reason
    ("idle at min", win(0, 0, 0), 1, {}, NOW - 999, 1, "Steady"),
    ("load fits", win(2, 2, 2), 1, {}, None, 1, "Steady"),
    ("onset acts on first high sample", win(0, 0, 6), 1, {}, None, 2, "ScaleUp"),
    ("one small spike is averaged away", win(0, 0, 3), 1, {}, None, 1, "Steady"),
    ("step bounds the scale-up", win(20, 20, 20), 1, {"scale_up_step": 2}, None, 3, "ScaleUp"),
    ("max bounds the scale-up", win(20, 20, 20), 3, {"scale_up_step": 5}, None, 4, "ScaleUp"),
    ("at max, wants more", win(20, 20, 20), 4, {}, None, 4, "AtMaximum"),
    ("low but within delay", win(0, 0, 0), 3, {}, NOW - 30, 3, "ScaleDownDelayed"),
    ("low past the delay", win(0, 0, 0), 3, {}, NOW - 61, 1, "ScaleDown"),
    ("scale down to what the peak needs", win(0, 3, 0), 4, {}, NOW - 61, 2, "ScaleDown"),
    ("no evidence yet: delay starts now", win(0, 0, 0), 3, {}, None, 3, "ScaleDownDelayed"),
    ("window not full after restart", win(0), 3, {}, NOW - 999, 3, "ScaleDownDelayed"),
    (
        "missing pods count as loaded going down",
        win((0, 2), (0, 2), (0, 2)),
        4,
        {},
        NOW - 61,
        2,
        "ScaleDown",
    ),
    ("no pod scraped: hold", win(0, 0, 0, scraped=0), 3, {}, NOW - 999, 3, "NoMetrics"),
    ("empty window: hold", [], 2, {}, NOW - 999, 2, "NoMetrics"),
    ("below min (no metrics needed)", [], 1, {"min_replicas": 2}, None, 2, "BelowMinimum"),
    ("above max (kubectl scale while enabled)", win(0, 0, 0), 9, {}, None, 4, "AboveMaximum"),
    (
        "kv cache fraction",
        win(1.5, 1.5, 1.5),
        2,
        {"target": 0.5, "metric": "kvCacheUsage"},
        None,
        3,
        "ScaleUp",
    ),
    ("exactly at target is enough", win(4, 4, 4), 1, {"target": 4.0}, None, 1, "Steady"),
]


@pytest.mark.parametrize(
    ("label", "window", "current", "overrides", "last_busy", "desired", "reason"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_decide(
    label: str,
    window: list[Sample],
    current: int,
    overrides: dict[str, Any],
    last_busy: float | None,
    desired: int,
    reason: str,
) -> None:
    spec = AutoscalingSpec(**{**SPEC.__dict__, **overrides})
    d = decide(window, current, spec, last_busy, NOW)
    assert (d.desired, d.reason) == (desired, reason), d.message


def test_missing_pods_alone_do_not_scale_up() -> None:
    d = decide(win((0, 3), (0, 3), (0, 3)), 3, SPEC, None, NOW)
    assert (d.desired, d.reason) == (3, "Steady")


def test_busy_refreshes_evidence_and_delay_counts_from_it() -> None:
    busy = decide(win(4, 4, 4), 2, SPEC, NOW - 500, NOW)
    assert busy.reason == "Steady"
    assert busy.last_busy == NOW
    low = decide(win(0, 0, 0), 2, SPEC, busy.last_busy, NOW + 59)
    assert low.reason == "ScaleDownDelayed"
    assert low.last_busy == NOW
    assert decide(win(0, 0, 0), 2, SPEC, busy.last_busy, NOW + 60).reason == "ScaleDown"


def test_spec_defaults_and_clamps() -> None:
    s = AutoscalingSpec.from_spec({"autoscaling": {"enabled": True, "maxReplicas": 3}})
    assert (s.metric, s.target, s.interval, s.scale_down_delay, s.scale_up_step) == (
        "inFlightRequests",
        4.0,
        2.0,
        300.0,
        1,
    )
    assert not AutoscalingSpec.from_spec({}).enabled
    odd = AutoscalingSpec.from_spec(
        {"autoscaling": {"minReplicas": 0, "maxReplicas": 0, "metric": "bogus", "target": 0}}
    )
    assert (odd.min_replicas, odd.max_replicas, odd.metric, odd.target) == (
        0,  # scale to zero (issue 13); at least one replica once awake
        1,
        "inFlightRequests",
        4.0,
    )


def runtime_exposition(running: float, waiting: float) -> str:
    """Text rendered by the runtime's own metrics code (the format the operator scrapes)."""
    from pasture_runtime.metrics import Metrics

    m = Metrics("tiny")
    m.bind_gauges(lambda: running, lambda: waiting)
    return m.render().decode()


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("inFlightRequests", 7.0), ("runningRequests", 4.0), ("queueDepth", 3.0)],
)
def test_parse_runtime_metrics(metric: str, expected: float) -> None:
    assert parse_load(runtime_exposition(4, 3), metric) == expected


def test_parse_refuses_text_without_the_series() -> None:
    with pytest.raises(ValueError, match="pasture_requests_running"):
        parse_load("# nothing here\nup 1\n", "runningRequests")


def pod(
    name: str,
    ip: str | None = "127.77.0.9",
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"] = ip
    return {
        "metadata": meta,
        "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8000}]}]},
        "status": status,
    }


def test_targets_ready_pods_only_and_unready_are_missing() -> None:
    ready, missing = targets(
        [
            pod("a"),
            pod("b", ready=False),
            pod("c", ip=None),
            pod("d", phase="Pending"),
            pod("e", deleting=True),
            pod("f", ip="fd00::1"),
        ]
    )
    assert [t.url for t in ready] == [
        "http://127.77.0.9:8000/metrics",
        "http://[fd00::1]:8000/metrics",
    ]
    assert missing == ["b", "c", "d"]


def test_state_survives_restart_through_status() -> None:
    state = AutoscaleState(SPEC)
    state.add(Sample(NOW, 6, 1, 0))
    up = decide(state.window, 1, SPEC, state.last_busy, NOW)
    state.record(up, 1, [], NOW)
    status = state.status()
    assert status["recentDecisions"][-1]["reason"] == "ScaleUp"
    assert status["lastScaleTime"] == rfc3339(NOW)

    fresh = AutoscaleState.restore(SPEC, status, NOW + 5)  # a new operator process
    # lastBusyTime is written at most every heartbeat: assumed busy until then (capped at now).
    assert fresh.last_busy == NOW + 5
    assert parse_rfc3339(status["lastBusyTime"]) == NOW
    assert fresh.decisions == status["recentDecisions"]
    fresh.add(Sample(NOW + 10, 0, 1, 0))  # first sample of the new process: idle
    d = decide(fresh.window, 2, SPEC, fresh.last_busy, NOW + 120)
    assert d.reason == "ScaleDownDelayed"  # one sample is not a full window


def test_recent_decisions_keep_changes_and_notable_holds_only() -> None:
    state = AutoscaleState(SPEC)
    for i, (window, current) in enumerate(
        [
            (win(0, 0, 6), 1),
            (win(6, 6, 6), 2),
            (win(20, 20, 20), 4),
            (win(20, 20, 20), 4),
            (win(0, 0, 0), 4),
        ]
        * 3
    ):
        d = decide(window, current, SPEC, NOW - 1, NOW + i)
        state.record(d, current, [], NOW + i)
    assert len(state.decisions) == 5
    reasons = [x["reason"] for x in state.decisions]
    assert "Steady" not in reasons
    assert all(a != b or a == "ScaleUp" for a, b in itertools.pairwise(reasons))


def test_status_patch_nulls_dropped_nested_keys() -> None:
    old = {"ready": "1/1", "autoscaling": {"currentMetric": 3, "reason": "Steady"}}
    new = {"ready": "1/1", "autoscaling": {"reason": "NoMetrics"}}
    assert status_patch(old, new) == {"autoscaling": {"currentMetric": None, "reason": "NoMetrics"}}
    assert status_patch(new, new) is None

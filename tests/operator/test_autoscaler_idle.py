"""Scale to zero's pure parts (issue 13), table-style: the effective keep-alive,
the idle rule in `decide`, the activity evidence the state keeps, the gateway's
annotations and the runtime series the idle rule reads."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.autoscale.duration import parse_duration
from pasture_operator.autoscale.policy import (
    AutoscalingSpec,
    Decision,
    Idle,
    Sample,
    decide,
    keep_alive_for,
)
from pasture_operator.autoscale.scrape import parse_reading
from pasture_operator.autoscale.state import AutoscaleState, rfc3339
from pasture_operator.handlers.autoscaler import demand

NOW = 1_000_000.0
SPEC = AutoscalingSpec(
    enabled=True,
    min_replicas=0,
    max_replicas=3,
    target=2.0,
    scale_down_delay=60.0,
    interval=5.0,
    idle_timeout=300.0,
    max_keep_alive=3600.0,
)


def spec(**overrides: Any) -> AutoscalingSpec:
    return AutoscalingSpec(**{**SPEC.__dict__, **overrides})


KEEP_ALIVE = [
    # label, spec overrides, requested keep-alive, effective seconds
    ("none asked: idle timeout", {}, None, 300.0),
    ("asked longer", {}, 600.0, 600.0),
    ("asked over the cap", {}, 7200.0, 3600.0),
    ("negative means the cap", {}, -1.0, 3600.0),
    ("0 without allowUnload: idle timeout", {}, 0.0, 300.0),
    ("0 with allowUnload: at once", {"allow_unload": True}, 0.0, 0.0),
    ("idle timeout over the cap is capped", {"idle_timeout": 7200.0}, None, 3600.0),
    ("shorter than the idle timeout", {}, 30.0, 30.0),
]


@pytest.mark.parametrize(
    ("label", "overrides", "asked", "seconds"), KEEP_ALIVE, ids=[c[0] for c in KEEP_ALIVE]
)
def test_keep_alive_for(
    label: str, overrides: dict[str, Any], asked: float | None, seconds: float
) -> None:
    assert keep_alive_for(spec(**overrides), asked) == seconds


def win(
    *loads: float, in_flight: float | None = 0.0, scraped: int = 1, missing: int = 0
) -> list[Sample]:
    """Samples 5 s apart ending at NOW; the newest carries `in_flight`."""
    n = len(loads)
    return [
        Sample(NOW - 5 * (n - 1 - i), load, scraped, missing, in_flight if i == n - 1 else 0.0)
        for i, load in enumerate(loads)
    ]


IDLE_LONG_AGO = Idle(NOW - 301)
IDLE_RECENT = Idle(NOW - 100)
DECISIONS: list[tuple[str, list[Sample], int, dict[str, Any], Idle | None, int, str]] = [
    # label, window, current, spec overrides, idle evidence, desired, reason
    ("at zero: hold zero", [], 0, {}, IDLE_LONG_AGO, 0, "ScaledToZero"),
    ("at zero without samples or evidence", [], 0, {}, None, 0, "ScaledToZero"),
    ("idle past the timeout: to zero", win(0, 0, 0), 1, {}, IDLE_LONG_AGO, 0, "ScaleToZero"),
    ("idle, not yet past the timeout", win(0, 0, 0), 1, {}, IDLE_RECENT, 1, "Steady"),
    (
        "past the timeout, requests running",
        win(0, 0, 1, in_flight=1),
        1,
        {},
        IDLE_LONG_AGO,
        1,
        "Steady",
    ),
    (
        "past the timeout, a ready pod unread",
        win(0, 0, 0, in_flight=None),
        1,
        {},
        IDLE_LONG_AGO,
        1,
        "Steady",
    ),
    (
        "past the timeout, the only pod not ready (serves nothing)",
        win(0, 0, 0, scraped=0, missing=1),
        1,
        {},
        IDLE_LONG_AGO,
        0,
        "ScaleToZero",
    ),
    (
        "several idle replicas go straight to zero",
        win(0, 0, 0),
        3,
        {},
        IDLE_LONG_AGO,
        0,
        "ScaleToZero",
    ),
    ("load wins over idle evidence", win(6, 6, 6, in_flight=6), 1, {}, IDLE_LONG_AGO, 2, "ScaleUp"),
    (
        "load alone never goes below one",
        win(0, 0, 0),
        3,
        {"scale_down_delay": 0.0},
        IDLE_RECENT,
        1,
        "ScaleDown",
    ),
    (
        "minReplicas 1 ignores idle evidence",
        win(0, 0, 0),
        1,
        {"min_replicas": 1},
        IDLE_LONG_AGO,
        1,
        "Steady",
    ),
    ("requested keep-alive holds it up", win(0, 0, 0), 1, {}, Idle(NOW - 301, 600.0), 1, "Steady"),
    (
        "keep_alive 0 allowed: down at once",
        win(0, 0, 0),
        1,
        {"allow_unload": True},
        Idle(NOW - 1, 0.0),
        0,
        "ScaleToZero",
    ),
    (
        "keep_alive 0 not allowed: idle timeout",
        win(0, 0, 0),
        1,
        {},
        Idle(NOW - 1, 0.0),
        1,
        "Steady",
    ),
]


@pytest.mark.parametrize(
    ("label", "window", "current", "overrides", "idle", "desired", "reason"),
    DECISIONS,
    ids=[c[0] for c in DECISIONS],
)
def test_decide_idle(
    label: str,
    window: list[Sample],
    current: int,
    overrides: dict[str, Any],
    idle: Idle | None,
    desired: int,
    reason: str,
) -> None:
    d = decide(window, current, spec(**overrides), NOW - 999, NOW, idle)
    assert (d.desired, d.reason) == (desired, reason), d.message


def test_the_deadline_is_reported_while_waiting() -> None:
    d = decide(win(0, 0, 0), 1, SPEC, None, NOW, IDLE_RECENT)
    assert d.idle_until == NOW - 100 + 300
    assert decide(win(0, 0, 0), 1, spec(min_replicas=1), None, NOW, IDLE_RECENT).idle_until is None


def _state() -> AutoscaleState:
    return AutoscaleState.restore(SPEC, None, NOW - 1000)


def test_a_fresh_operator_counts_its_start_as_activity() -> None:
    assert _state().idle(1, {}, None, None, NOW).last_activity == NOW - 1000


def test_the_newest_evidence_wins() -> None:
    state = _state()
    assert state.idle(1, {}, NOW - 10, 30.0, NOW) == Idle(NOW - 10, 30.0)


def test_runtime_counters_moving_is_activity() -> None:
    state = _state()
    state.idle(1, {"p": 5.0}, None, None, NOW - 500)  # first sight of a pod that served
    assert state.last_direct == NOW - 500
    state.idle(1, {"p": 5.0}, None, None, NOW - 400)  # unchanged: not activity
    assert state.last_direct == NOW - 500
    state.idle(1, {"p": 0.0}, None, None, NOW - 300)  # restarted runtime: not activity
    assert state.idle(1, {"p": 1.0}, None, None, NOW).last_activity == NOW


def test_a_scale_up_by_someone_else_starts_a_new_idle_window() -> None:
    """The gateway raising 0 -> 1 must not be undone by a stale idle deadline."""
    state = _state()
    state.idle(0, {}, None, None, NOW - 500)
    state.record(Decision(0, "ScaledToZero", "", None, None), 0, [], NOW - 500)
    assert state.idle(1, {}, NOW - 900, None, NOW).last_activity == NOW
    assert decide(win(0, 0, 0), 1, SPEC, None, NOW + 1, Idle(NOW)).desired == 1


def test_our_own_scale_up_is_activity_and_status_shows_the_deadline() -> None:
    state = _state()
    state.record(Decision(2, "ScaleUp", "", 6.0, NOW, idle_until=NOW + 300), 1, [], NOW)
    assert state.last_up == NOW
    assert state.status()["idleUntil"] == rfc3339(NOW + 300)


ANNOTATIONS = [
    ({}, (None, None)),
    ({"pasture.dev/last-request": "1970-01-12T13:46:40Z"}, (NOW, None)),
    ({"pasture.dev/keep-alive": "-1"}, (None, -1.0)),
    ({"pasture.dev/keep-alive": "600", "pasture.dev/last-request": "soon"}, (None, 600.0)),
    ({"pasture.dev/keep-alive": "10m"}, (None, None)),  # the gateway writes seconds only
]


@pytest.mark.parametrize(("annotations", "expected"), ANNOTATIONS)
def test_demand_annotations(
    annotations: dict[str, str], expected: tuple[float | None, float | None]
) -> None:
    assert demand({"metadata": {"annotations": annotations}}) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("90", 90.0), (45, 45.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-5m", "5 minutes", "2d", "m", -1])
def test_parse_duration_refuses(text: str | int) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(text)


def test_reading_counts_model_requests_only() -> None:
    """From the runtime's own metrics code: /api/tags and /api/show are not activity."""
    from pasture_runtime.metrics import Metrics

    m = Metrics("tiny")
    m.bind_gauges(lambda: 0, lambda: 2)
    for endpoint, n in (
        ("/api/chat", 3),
        ("/v1/embeddings", 1),
        ("/api/tags", 7),
        ("/api/show", 5),
    ):
        for _ in range(n):
            m.requests.labels(model="tiny", endpoint=endpoint, status="200").inc()
    reading = parse_reading(m.render().decode(), "inFlightRequests")
    assert (reading.load, reading.in_flight, reading.requests) == (2.0, 2.0, 4.0)

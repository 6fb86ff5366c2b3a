"""The autoscaler's decision, as a pure function of what was observed.

Load is the sum over the scraped pods of one runtime metric (by default the
requests in flight: running + waiting). A replica is worth `target` of it, so
the replicas the load needs are ceil(load / target), kept in [min, max].

- Scale up at once, by at most `scaleUpStep` per tick, when the mean of the two
  newest samples needs more replicas (two, so one spiky scrape cannot add a pod,
  yet a real onset acts on the first or second tick).
- Scale down only when every sample of a full window needs fewer replicas and
  the load has not needed the current count for `scaleDownDelaySeconds`
  (measured from `last_busy`, kept in status so it survives a restart; a fresh
  operator also needs a full window of its own samples first).
- Pods whose load is unknown (not ready, scrape failed) are never read as
  idle: for scaling down each counts as one fully loaded replica; for scaling
  up they are left out (an unknown load is no reason to buy a GPU).
- Scale to zero (minReplicas 0 only; load alone never goes below one replica):
  once `now` is past the last activity plus the effective keep-alive (see
  `keep_alive_for`), and the newest sample read every ready pod with nothing
  running or waiting. The last activity is the newest of the gateway's last request,
  the runtimes' own request counters moving and the last scale-up (state.py).
  At 0 the autoscaler holds 0: the gateway raises it when a request comes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pasture_operator.autoscale.duration import parse_duration

# Metric names (CRD enum) -> runtime series summed over a pod's samples.
METRIC_SERIES: dict[str, tuple[str, ...]] = {
    "inFlightRequests": ("pasture_requests_running", "pasture_requests_waiting"),
    "runningRequests": ("pasture_requests_running",),
    "queueDepth": ("pasture_requests_waiting",),
    "kvCacheUsage": ("vllm:kv_cache_usage_perc",),
}
DEFAULT_METRIC = "inFlightRequests"
# Samples in the scale-down window; the two newest decide scale-up.
WINDOW = 3
UP_SAMPLES = 2


@dataclass(frozen=True)
class AutoscalingSpec:
    """spec.autoscaling with the CRD's defaults (docs/autoscaling.md)."""

    enabled: bool = False
    min_replicas: int = 1
    max_replicas: int = 1
    metric: str = DEFAULT_METRIC
    target: float = 4.0
    scale_up_step: int = 1
    scale_down_delay: float = 300.0
    interval: float = 2.0
    idle_timeout: float = 300.0  # seconds without a request before scaling to 0 (min 0)
    max_keep_alive: float = 3600.0  # cap on a request's keep_alive
    allow_unload: bool = False  # whether keep_alive 0 may scale to 0 at once

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> AutoscalingSpec:
        a: Mapping[str, Any] = (spec or {}).get("autoscaling") or {}
        lo = max(0, int(a.get("minReplicas", 1)))
        metric = str(a.get("metric") or DEFAULT_METRIC)
        return cls(
            enabled=bool(a.get("enabled", False)),
            min_replicas=lo,
            max_replicas=max(lo, 1, int(a.get("maxReplicas", lo))),
            metric=metric if metric in METRIC_SERIES else DEFAULT_METRIC,
            target=float(a.get("target", 4)) if float(a.get("target", 4)) > 0 else 4.0,
            scale_up_step=max(1, int(a.get("scaleUpStep", 1))),
            scale_down_delay=max(0.0, float(a.get("scaleDownDelaySeconds", 300))),
            interval=max(1.0, float(a.get("interval", 2))),
            idle_timeout=_seconds(a.get("idleTimeout"), 300.0),
            max_keep_alive=_seconds(a.get("maxKeepAlive"), 3600.0),
            allow_unload=bool(a.get("allowUnload", False)),
        )


def _seconds(value: Any, default: float) -> float:
    """A duration field (the CRD validated it; an older object may lack it)."""
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError:
        return default


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    load: float  # the metric summed over the pods that were scraped
    scraped: int  # pods whose metrics were read
    missing: int  # pods that exist but whose load is unknown
    # Requests running or waiting in the ready pods (pods not ready serve none);
    # None when a ready pod could not be read, or an older caller did not say.
    in_flight: float | None = None

    def needs(self, target: float, *, for_down: bool) -> int:
        """Replicas this sample's load needs (unknown pods count as full ones going down)."""
        need = math.ceil(round(self.load / target, 6))
        return need + self.missing if for_down else need


@dataclass(frozen=True)
class Decision:
    desired: int
    reason: str  # ScaleUp, ScaleDown, ScaleDownDelayed, AtMaximum, Steady, NoMetrics, ...
    message: str
    metric: float | None  # the load the decision used (None without samples)
    last_busy: float | None  # evidence for the scale-down delay, to persist
    idle_until: float | None = None  # with minReplicas 0: when it scales to 0 if still idle

    def changes(self, current: int) -> bool:
        return self.desired != current


@dataclass(frozen=True)
class Idle:
    """What the scale-to-zero rule reads (minReplicas 0), gathered by the handler."""

    last_activity: float  # newest of: gateway's last request, counters moved, last scale-up
    keep_alive: float | None = None  # pasture.dev/keep-alive seconds; None: not asked


def keep_alive_for(spec: AutoscalingSpec, requested: float | None) -> float:
    """Seconds a model stays up after its last activity (Ollama's keep_alive,
    capped by maxKeepAlive; a negative one means the cap; 0 only with allowUnload)."""
    k = spec.idle_timeout if requested is None else requested
    if k < 0:
        k = spec.max_keep_alive
    k = min(k, spec.max_keep_alive)
    if k == 0 and not spec.allow_unload:
        k = min(spec.idle_timeout, spec.max_keep_alive)
    return k


def decide(
    window: Sequence[Sample],
    current: int,
    spec: AutoscalingSpec,
    last_busy: float | None,
    now: float,
    idle: Idle | None = None,
) -> Decision:
    """Desired replicas and why, from the newest-last `window` and the current count."""
    # A sample whose load is not a finite, non-negative number (scrape.py refuses
    # those; this keeps the decision total) counts as one that read no pod.
    window = [s if _valid(s.load) else Sample(s.at, 0.0, 0, s.missing + s.scraped) for s in window]
    recent = [s for s in window if s.scraped > 0][-WINDOW:]
    metric = _mean([s.load for s in recent[-UP_SAMPLES:]]) if recent else None
    if spec.min_replicas == 0 and current == 0:
        message = "scaled to zero while idle; a request through the gateway wakes it"
        return Decision(0, "ScaledToZero", message, metric, last_busy)
    decision = _bounds(current, spec, metric, last_busy, now)
    if decision is None:
        decision = _by_load(window, recent, metric, current, spec, last_busy, now)
    if spec.min_replicas > 0 or idle is None or decision.desired > current:
        return decision
    return _idle(decision, window[-1] if window else None, current, spec, idle, now)


def _bounds(
    current: int, spec: AutoscalingSpec, metric: float | None, last_busy: float | None, now: float
) -> Decision | None:
    lo, hi = spec.min_replicas, spec.max_replicas
    if current < lo:
        return Decision(
            lo, "BelowMinimum", f"{current} replica(s) is below minReplicas {lo}", metric, now
        )
    if current > hi:
        return Decision(
            hi, "AboveMaximum", f"{current} replica(s) is above maxReplicas {hi}", metric, last_busy
        )
    return None


def _by_load(
    window: Sequence[Sample],
    recent: Sequence[Sample],
    metric: float | None,
    current: int,
    spec: AutoscalingSpec,
    last_busy: float | None,
    now: float,
) -> Decision:
    """What the load asks for, between max(minReplicas, 1) and maxReplicas."""
    if not window or window[-1].scraped == 0 or metric is None:
        missing = window[-1].missing if window else 0
        message = f"no pod could be scraped ({missing} missing); holding {current}"
        return Decision(current, "NoMetrics", message, None, last_busy)
    what = f"{spec.metric} {metric:g} for target {spec.target:g} per replica"
    up_need = math.ceil(round(metric / spec.target, 6))
    if up_need > current:
        hi = spec.max_replicas
        if current >= hi:
            message = f"{what} needs {up_need}; capped at maxReplicas {hi}"
            return Decision(current, "AtMaximum", message, metric, now)
        desired = min(hi, up_need, current + spec.scale_up_step)
        message = f"{what} needs {up_need}; {current} -> {desired}"
        return Decision(desired, "ScaleUp", message, metric, now)
    # Going down: the busiest sample of the window, unknown pods counted as full.
    floor = max(spec.min_replicas, 1)
    down_need = max(floor, max(s.needs(spec.target, for_down=True) for s in recent))
    if down_need >= current:
        return Decision(current, "Steady", f"{what} needs {current}", metric, now)
    if last_busy is None:  # no evidence yet (first sight): the delay starts now
        last_busy = now
    delay = f"{spec.scale_down_delay:g}s"
    if len(recent) < WINDOW or last_busy + spec.scale_down_delay > now:
        message = f"{what} needs {down_need}; scaling down once it stays low for {delay}"
        return Decision(current, "ScaleDownDelayed", message, metric, last_busy)
    message = f"{what} needs {down_need} for {delay}; {current} -> {down_need}"
    return Decision(down_need, "ScaleDown", message, metric, now)


def _idle(
    decision: Decision,
    newest: Sample | None,
    current: int,
    spec: AutoscalingSpec,
    idle: Idle,
    now: float,
) -> Decision:
    """`decision`, or 0 replicas once idle past the keep-alive with every pod read idle."""
    keep = keep_alive_for(spec, idle.keep_alive)
    until = idle.last_activity + keep
    quiet = newest is not None and newest.in_flight == 0  # None: a ready pod went unread
    if now <= until or not quiet:
        return dataclasses.replace(decision, idle_until=until)
    message = (
        f"no request for {now - idle.last_activity:.0f}s (keep-alive {keep:g}s) "
        f"and nothing running or waiting; {current} -> 0"
    )
    return Decision(0, "ScaleToZero", message, decision.metric, decision.last_busy, until)


def _valid(load: float) -> bool:
    return math.isfinite(load) and load >= 0


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 3)

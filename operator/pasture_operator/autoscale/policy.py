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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> AutoscalingSpec:
        a: Mapping[str, Any] = (spec or {}).get("autoscaling") or {}
        lo = max(1, int(a.get("minReplicas", 1)))
        metric = str(a.get("metric") or DEFAULT_METRIC)
        return cls(
            enabled=bool(a.get("enabled", False)),
            min_replicas=lo,
            max_replicas=max(lo, int(a.get("maxReplicas", lo))),
            metric=metric if metric in METRIC_SERIES else DEFAULT_METRIC,
            target=float(a.get("target", 4)) if float(a.get("target", 4)) > 0 else 4.0,
            scale_up_step=max(1, int(a.get("scaleUpStep", 1))),
            scale_down_delay=max(0.0, float(a.get("scaleDownDelaySeconds", 300))),
            interval=max(1.0, float(a.get("interval", 2))),
        )


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    load: float  # the metric summed over the pods that were scraped
    scraped: int  # pods whose metrics were read
    missing: int  # pods that exist but whose load is unknown

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

    def changes(self, current: int) -> bool:
        return self.desired != current


def decide(
    window: Sequence[Sample],
    current: int,
    spec: AutoscalingSpec,
    last_busy: float | None,
    now: float,
) -> Decision:
    """Desired replicas and why, from the newest-last `window` and the current count."""
    lo, hi = spec.min_replicas, spec.max_replicas
    # A sample whose load is not a finite, non-negative number (scrape.py refuses
    # those; this keeps the decision total) counts as one that read no pod.
    window = [s if _valid(s.load) else Sample(s.at, 0.0, 0, s.missing + s.scraped) for s in window]
    recent = [s for s in window if s.scraped > 0][-WINDOW:]
    metric = _mean([s.load for s in recent[-UP_SAMPLES:]]) if recent else None
    if current < lo:
        return Decision(
            lo, "BelowMinimum", f"{current} replica(s) is below minReplicas {lo}", metric, now
        )
    if current > hi:
        return Decision(
            hi, "AboveMaximum", f"{current} replica(s) is above maxReplicas {hi}", metric, last_busy
        )
    if not window or window[-1].scraped == 0 or metric is None:
        missing = window[-1].missing if window else 0
        return Decision(
            current,
            "NoMetrics",
            f"no pod could be scraped ({missing} missing); holding {current}",
            None,
            last_busy,
        )

    what = f"{spec.metric} {metric:g} for target {spec.target:g} per replica"
    up_need = math.ceil(round(metric / spec.target, 6))
    if up_need > current:
        if current >= hi:
            return Decision(
                current,
                "AtMaximum",
                f"{what} needs {up_need}; capped at maxReplicas {hi}",
                metric,
                now,
            )
        desired = min(hi, up_need, current + spec.scale_up_step)
        return Decision(
            desired, "ScaleUp", f"{what} needs {up_need}; {current} -> {desired}", metric, now
        )

    # Going down: the busiest sample of the window, unknown pods counted as full.
    down_need = max(lo, max(s.needs(spec.target, for_down=True) for s in recent))
    if down_need >= current:
        return Decision(current, "Steady", f"{what} needs {current}", metric, now)
    if last_busy is None:  # no evidence yet (first sight): the delay starts now
        last_busy = now
    left = last_busy + spec.scale_down_delay - now
    if len(recent) < WINDOW or left > 0:
        return Decision(
            current,
            "ScaleDownDelayed",
            f"{what} needs {down_need}; scaling down once it stays low for "
            f"{spec.scale_down_delay:g}s",
            metric,
            last_busy,
        )
    return Decision(
        down_need,
        "ScaleDown",
        f"{what} needs {down_need} for {spec.scale_down_delay:g}s; {current} -> {down_need}",
        metric,
        now,
    )


def _valid(load: float) -> bool:
    return math.isfinite(load) and load >= 0


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 3)

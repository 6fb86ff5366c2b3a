"""What the autoscaler remembers per ModelDeployment, and its `status.autoscaling`.

The sample window lives in memory only; the evidence that matters across an
operator restart (when the load last needed the current replicas, the last
scale, the recent decisions) is written to status by the controller's one
status write per pass, and read back from there by a fresh operator.

Scale to zero's activity evidence (policy.Idle) also lives here: when the
runtimes' request counters last moved and when the replicas last went up (by
the autoscaler, or by anyone else: the gateway waking a model from 0 starts a
new idle window). A fresh operator counts its own start as activity, so a
restart can delay a scale to zero, never hasten one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pasture_operator.autoscale.policy import WINDOW, AutoscalingSpec, Decision, Idle, Sample
from pasture_operator.autoscale.publish import HEARTBEAT

RECENT_DECISIONS = 5
# Decisions that change nothing but are worth a line in recentDecisions (once
# each time they start); Steady is the normal case and never recorded.
NOTABLE_HOLDS = frozenset({"AtMaximum", "ScaleDownDelayed", "NoMetrics"})


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class AutoscaleState:
    spec: AutoscalingSpec
    window: deque[Sample] = field(default_factory=lambda: deque(maxlen=WINDOW))
    last_busy: float | None = None
    last_scale: float | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    metric: float | None = None
    desired: int | None = None
    missing: list[str] = field(default_factory=list)
    reason: str = ""
    message: str = ""
    idle_until: float | None = None
    # Scale-to-zero evidence (epoch seconds): counters moved, replicas went up.
    last_direct: float = 0.0
    last_up: float = 0.0
    seen_replicas: int | None = None
    request_counts: dict[str, float] = field(default_factory=dict)  # pod -> counter

    @classmethod
    def restore(
        cls, spec: AutoscalingSpec, status: Mapping[str, Any] | None, now: float
    ) -> AutoscaleState:
        """A fresh operator's state, seeded from the status its predecessor wrote."""
        st = status or {}
        decisions = [dict(d) for d in st.get("recentDecisions") or [] if isinstance(d, Mapping)]
        metric = st.get("currentMetric")
        last_busy = parse_rfc3339(st.get("lastBusyTime"))
        if last_busy is not None:  # written at most every HEARTBEAT: assume busy until then
            last_busy = min(now, last_busy + HEARTBEAT)
        return cls(
            spec=spec,
            last_busy=last_busy,
            last_scale=parse_rfc3339(st.get("lastScaleTime")),
            decisions=decisions[-RECENT_DECISIONS:],
            metric=float(metric) if isinstance(metric, int | float) else None,
            desired=st.get("desiredReplicas"),
            missing=[str(p) for p in st.get("missingPods") or []],
            reason=str(st.get("reason") or ""),
            message=str(st.get("message") or ""),
            last_direct=now,
            last_up=now,
        )

    def idle(
        self,
        current: int,
        requests: Mapping[str, float],
        last_request: float | None,
        keep_alive: float | None,
        now: float,
    ) -> Idle:
        """Fold this tick's counters and replica count in; the idle rule's input."""
        if any(v > self.request_counts.get(pod, 0.0) for pod, v in requests.items()):
            self.last_direct = now  # requests that did not pass the gateway (or did)
        self.request_counts = dict(requests)
        if self.seen_replicas is not None and current > self.seen_replicas:
            self.last_up = now  # raised by someone else (the gateway waking it)
        self.seen_replicas = current
        newest = max(self.last_direct, self.last_up, last_request or 0.0)
        return Idle(newest, keep_alive)

    def add(self, sample: Sample) -> Sequence[Sample]:
        """Append a sample, dropping any too old to describe the present (after a pause)."""
        horizon = sample.at - (WINDOW + 1) * self.spec.interval
        while self.window and self.window[0].at < horizon:
            self.window.popleft()
        self.window.append(sample)
        return tuple(self.window)

    def record(self, decision: Decision, current: int, missing: Sequence[str], now: float) -> None:
        """Fold one tick's outcome in (after a change was written, if it was one)."""
        self.metric = decision.metric
        self.desired = decision.desired
        self.last_busy = decision.last_busy
        self.missing = sorted(missing)
        self.reason, self.message = decision.reason, decision.message
        self.idle_until = decision.idle_until
        self.seen_replicas = decision.desired
        if decision.desired > current:
            self.last_up = now
        last_reason = self.decisions[-1]["reason"] if self.decisions else None
        if decision.changes(current):
            self.last_scale = now
        elif decision.reason not in NOTABLE_HOLDS or decision.reason == last_reason:
            return
        self.decisions.append(
            {
                "time": rfc3339(now),
                "from": current,
                "to": decision.desired,
                "reason": decision.reason,
                "message": decision.message,
            }
        )
        del self.decisions[:-RECENT_DECISIONS]

    def status(self) -> dict[str, Any]:
        """status.autoscaling; every key always present (a merge patch never drops one)."""
        out: dict[str, Any] = {
            "metric": self.spec.metric,
            "target": self.spec.target,
            "missingPods": list(self.missing),
            "recentDecisions": list(self.decisions),
            "reason": self.reason or "Pending",
            "message": self.message or "no sample yet",
        }
        if self.metric is not None:
            out["currentMetric"] = self.metric
        if self.desired is not None:
            out["desiredReplicas"] = self.desired
        if self.last_scale is not None:
            out["lastScaleTime"] = rfc3339(self.last_scale)
        if self.last_busy is not None:
            out["lastBusyTime"] = rfc3339(self.last_busy)
        if self.idle_until is not None:
            out["idleUntil"] = rfc3339(self.idle_until)
        return out

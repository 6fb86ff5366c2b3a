"""A ModelDeployment's conditions and the Events their changes post, from what
the plan decided and observed. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pasture_operator.reconcile import conditions
from pasture_operator.reconcile.conditions import Condition
from pasture_operator.reconcile.model_state import ModelState
from pasture_operator.reconcile.ownership import CONFLICT_REASON
from pasture_operator.reconcile.pod_health import PodProblem
from pasture_operator.reconcile.status import Event

FAILURE_REASONS = {
    "Unschedulable",
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "OOMKilled",
    "InvalidSpec",
    "UnknownGPUProfile",
    "CreateContainerConfigError",
    "ModelNotFound",
    "ModelFailed",
    CONFLICT_REASON,
    "VolumeMultiAttach",
    "VolumeMountFailed",
    "NameConflict",
    "MultiNodeUnavailable",  # reconcile/workload.py: LeaderWorkerSet not installed
}


@dataclass(frozen=True)
class Rollout:
    """The observed Deployment's replica counts, and whether they describe its spec."""

    ready: int = 0
    updated: int = 0
    total: int = 0
    current: bool = False  # the Deployment controller has seen our latest spec

    @classmethod
    def of(cls, observed: Mapping[str, Any] | None, applying: bool) -> Rollout:
        if observed is None:
            return cls()
        st: Mapping[str, Any] = observed.get("status") or {}
        seen = int(st.get("observedGeneration") or 0)
        return cls(
            ready=int(st.get("readyReplicas") or 0),
            updated=int(st.get("updatedReplicas") or 0),
            total=int(st.get("replicas") or 0),
            current=not applying and seen >= int(observed["metadata"].get("generation") or 0),
        )

    def rolled_out(self, replicas: int) -> bool:
        return self.current and self.updated >= replicas and self.total == replicas


@dataclass(frozen=True)
class Situation:
    """Everything the conditions are derived from."""

    models: ModelState
    blocked: tuple[str, str] | None  # a spec problem: (reason, message)
    clash: tuple[str, str] | None  # same-named objects we do not control
    holding: bool  # serving the previous revision while the Model is not Ready
    want: int  # spec.replicas
    replicas: int  # what the Deployment gets now
    rollout: Rollout
    problem: PodProblem | None
    # Served names another ModelDeployment here serves too: the gateway refuses
    # them (reconcile/name_conflicts.py). The pods themselves serve on.
    name_conflict: str | None = None


def _ready(s: Situation) -> Condition:
    ms, r = s.models, s.rollout
    previous = f"; serving the previous model revision ({ms.message})" if s.holding else ""
    if s.blocked is not None:
        return Condition("Ready", "False", *s.blocked)
    if s.clash is not None:
        return Condition("Ready", "False", *s.clash)
    if not ms.ready and not s.holding:
        return Condition("Ready", "False", "ModelNotReady", ms.message)
    if s.want == 0:
        return Condition("Ready", "True", "ScaledToZero", "0 replicas requested" + previous)
    if r.current and r.ready >= s.want:
        return Condition(
            "Ready", "True", "Available", f"{r.ready}/{s.want} replicas ready{previous}"
        )
    if s.problem is not None:
        return Condition("Ready", "False", s.problem.reason, s.problem.message)
    return Condition("Ready", "False", "Starting", f"{r.ready}/{s.want} replicas ready")


def _progressing(s: Situation) -> Condition:
    ms = s.models
    up_to_date = f"{s.rollout.updated}/{s.replicas} replicas up to date"
    if s.blocked is not None:
        return Condition("Progressing", "False", *s.blocked)
    if ms.base is None:
        return Condition("Progressing", "False", ms.reason, ms.message)
    if s.holding:  # the new revision rolls out once the Model is Ready; a Failed one never
        waiting = ms.reason != "ModelFailed"
        return Condition(
            "Progressing",
            "True" if waiting else "False",
            ms.reason,
            f"serving the previous model revision; {ms.message}",
        )
    if s.rollout.rolled_out(s.replicas):
        return Condition("Progressing", "False", "Complete", up_to_date)
    if s.problem is not None:
        return Condition("Progressing", "False", s.problem.reason, s.problem.message)
    return Condition("Progressing", "True", "RollingOut", up_to_date)


def _degraded(s: Situation) -> Condition:
    ms = s.models
    if s.blocked is not None:
        return Condition("Degraded", "True", *s.blocked)
    if s.clash is not None:
        return Condition("Degraded", "True", *s.clash)
    if s.name_conflict is not None:
        return Condition("Degraded", "True", "NameConflict", s.name_conflict)
    if ms.reason in ("ModelNotFound", "ModelFailed"):
        return Condition("Degraded", "True", ms.reason, ms.message)
    if s.problem is not None:
        return Condition("Degraded", "True", s.problem.reason, s.problem.message)
    return Condition("Degraded", "False", "AsExpected", "no failures observed")


def deployment_conditions(s: Situation) -> list[Condition]:
    ms = s.models
    model_ready = Condition("ModelReady", "True" if ms.ready else "False", ms.reason, ms.message)
    return [_ready(s), _progressing(s), _degraded(s), model_ready]


def condition_events(
    old: Sequence[Mapping[str, Any]] | None, new: Sequence[Condition]
) -> list[Event]:
    """Ready turning True, and a failure turning Degraded True, each once."""
    events: list[Event] = []
    for cond in new:
        if cond.type not in ("Ready", "Degraded"):
            continue
        before = conditions.find(old, cond.type)
        same = (
            before is not None
            and before.get("status") == cond.status
            and before.get("reason") == cond.reason
        )
        if same:
            continue
        if cond.type == "Ready" and cond.status == "True":
            events.append(Event("Normal", "Ready", cond.message))
        elif cond.type == "Degraded" and cond.status == "True" and cond.reason in FAILURE_REASONS:
            events.append(Event("Warning", cond.reason, cond.message))
    return events

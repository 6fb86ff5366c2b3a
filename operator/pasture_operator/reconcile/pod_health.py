"""Why are pods not Ready? The root cause read from pod conditions and container states.

Ordered by how actionable the cause is: a scheduling failure or a crash says
more than "not ready yet".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_IMAGE_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
# A condition message is read by people: one line of the container's last words.
_MESSAGE_CHARS = 500
# Lower is more important when several pods fail differently.
_PRIORITY = {
    "OOMKilled": 0,
    "CrashLoopBackOff": 1,
    "ImagePullBackOff": 2,
    "CreateContainerConfigError": 3,
    "VolumeMultiAttach": 4,
    "VolumeMountFailed": 5,
    "Unschedulable": 6,
}
# Pods stuck here wait on their volumes; only Events say why (pod status does not).
CREATING = {"ContainerCreating", "PodInitializing"}
_VOLUME_EVENTS = {"FailedAttachVolume", "FailedMount", "FailedMapVolume"}


@dataclass(frozen=True)
class PodProblem:
    reason: str
    message: str
    pod: str


def _last_words(terminated: Mapping[str, Any]) -> str:
    """ ": <cause>" from a terminated container's message: the runtime's one-line
    termination message, or (terminationMessagePolicy FallbackToLogsOnError)
    the tail of its log, whose last non-blank line is the final error."""
    lines = [ln.strip() for ln in str(terminated.get("message") or "").splitlines()]
    lines = [ln for ln in lines if ln]
    return f": {lines[-1][:_MESSAGE_CHARS]}" if lines else ""


def _pod_problem(pod: Mapping[str, Any]) -> PodProblem | None:
    name = str(pod["metadata"]["name"])
    status: Mapping[str, Any] = pod.get("status") or {}
    for c in status.get("conditions") or []:
        if (
            c.get("type") == "PodScheduled"
            and c.get("status") == "False"
            and c.get("reason") == "Unschedulable"
        ):
            return PodProblem("Unschedulable", str(c.get("message") or "no node fits"), name)
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        if terminated.get("reason") == "OOMKilled" or last.get("reason") == "OOMKilled":
            killed = terminated if terminated.get("reason") == "OOMKilled" else last
            return PodProblem(
                "OOMKilled",
                f"container {cs.get('name')} was OOMKilled: raise "
                f"resources.memory or lower engine.maxModelLen{_last_words(killed)}",
                name,
            )
        reason = str(waiting.get("reason") or "")
        if reason in _IMAGE_REASONS:
            return PodProblem(
                "ImagePullBackOff",
                str(waiting.get("message") or f"cannot pull {cs.get('image')}"),
                name,
            )
        if reason == "CrashLoopBackOff":
            return PodProblem(
                "CrashLoopBackOff",
                f"container {cs.get('name')} keeps exiting (exit code "
                f"{last.get('exitCode', '?')}){_last_words(last)}",
                name,
            )
        if reason in {"CreateContainerConfigError", "CreateContainerError"}:
            return PodProblem(
                "CreateContainerConfigError", str(waiting.get("message") or reason), name
            )
    return None


def creating(pod: Mapping[str, Any]) -> bool:
    """Is a container of `pod` still waiting to be created (volumes, image)?"""
    return any(
        ((cs.get("state") or {}).get("waiting") or {}).get("reason") in CREATING
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _volume_problem(
    pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> PodProblem | None:
    """The latest attach/mount failure Event of a pod still being created."""
    if not creating(pod):
        return None
    failures = sorted(
        (e for e in events if e.get("type") == "Warning" and e.get("reason") in _VOLUME_EVENTS),
        key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
    )
    multi = [e for e in failures if "Multi-Attach" in str(e.get("message") or "")]
    name = str(pod["metadata"]["name"])
    if multi:
        return PodProblem(
            "VolumeMultiAttach",
            f"{str(multi[-1].get('message'))[:400]}: a ReadWriteOnce volume is attached to "
            "another node; use spec.cache.accessMode ReadWriteMany (a file StorageClass) "
            "or keep the pods on one node",
            name,
        )
    if failures:
        return PodProblem("VolumeMountFailed", str(failures[-1].get("message"))[:500], name)
    return None


def worst_problem(
    pods: Sequence[Mapping[str, Any]],
    events: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> PodProblem | None:
    """The most actionable problem among pods that are not being deleted; `events`
    are the Events of pods still being created, by pod name."""
    live = [pod for pod in pods if not (pod.get("metadata") or {}).get("deletionTimestamp")]
    found = [
        p
        for p in (
            _pod_problem(pod)
            or _volume_problem(pod, (events or {}).get(str(pod["metadata"]["name"])) or ())
            for pod in live
        )
        if p is not None
    ]
    if not found:
        return None
    found.sort(key=lambda p: (_PRIORITY.get(p.reason, 9), p.pod))
    first = found[0]
    same = sum(1 for p in found if p.reason == first.reason)
    prefix = f"{same}/{len(pods)} pods: " if len(pods) > 1 else f"pod {first.pod}: "
    return PodProblem(first.reason, prefix + first.message, first.pod)

"""The workload that runs a ModelDeployment's pods: a Deployment, or for a replica
spanning several nodes a LeaderWorkerSet (one group per replica). Pure: which
kind and name, its served pod template, its rollout, and whether it can be made."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pasture_operator.builders.leaderworkerset import LWS_KIND
from pasture_operator.builders.names import group_set_name
from pasture_operator.reconcile.deployment_status import Rollout
from pasture_operator.spec.deployment import DeploymentSpec

MULTI_NODE_UNAVAILABLE = "MultiNodeUnavailable"
LWS_CRD = "leaderworkersets.leaderworkerset.x-k8s.io"


def workload_key(spec: DeploymentSpec, name: str) -> tuple[str, str]:
    """(kind, name) of the workload this spec gets."""
    if spec.multi_node:
        return LWS_KIND, group_set_name(name)
    return "Deployment", name


def unavailable(spec: DeploymentSpec, lws_installed: bool) -> tuple[str, str] | None:
    """Why the workload cannot be made (nothing is, then): a multi-node spec
    without the LeaderWorkerSet CRD."""
    if not spec.multi_node or lws_installed:
        return None
    return (
        MULTI_NODE_UNAVAILABLE,
        f"resources.nodesPerReplica {spec.resources.nodes_per_replica} needs LeaderWorkerSet:"
        f" install LeaderWorkerSet v0.7 or later (CRD {LWS_CRD},"
        " https://lws.sigs.k8s.io/docs/installation/); see docs/multinode.md",
    )


def _template_path(kind: str) -> tuple[str, ...]:
    # A Deployment's pod template; a LeaderWorkerSet's leader and worker templates.
    return ("template",) if kind == "Deployment" else ("leaderWorkerTemplate",)


def served_template(observed: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The pod template(s) of a workload that already serves (replicas > 0), if any."""
    spec = (observed or {}).get("spec") or {}
    (key,) = _template_path(str((observed or {}).get("kind") or "Deployment"))
    if int(spec.get("replicas") or 0) > 0 and isinstance(spec.get(key), Mapping):
        return copy.deepcopy(dict(spec[key]))
    return None


def with_template(obj: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` (a desired workload) keeping the template it serves with."""
    (key,) = _template_path(str(obj["kind"]))
    return {**obj, "spec": {**obj["spec"], key: dict(template)}}


def rollout(observed: Mapping[str, Any] | None, applying: bool) -> Rollout:
    """The observed workload's counts (a LeaderWorkerSet's count groups: readyReplicas
    are groups whose every pod is Ready). LeaderWorkerSet reports no
    observedGeneration: its spec counts as seen once we are not changing it and
    its UpdateInProgress condition is not True."""
    if observed is None or observed.get("kind") != LWS_KIND:
        return Rollout.of(observed, applying)
    st: Mapping[str, Any] = observed.get("status") or {}
    updating = any(
        c.get("type") == "UpdateInProgress" and c.get("status") == "True"
        for c in st.get("conditions") or []
    )
    return Rollout(
        ready=int(st.get("readyReplicas") or 0),
        updated=int(st.get("updatedReplicas") or 0),
        total=int(st.get("replicas") or 0),
        current=not applying and not updating,
    )

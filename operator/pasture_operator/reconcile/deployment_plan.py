"""The pure plan for one ModelDeployment: desired children, what to delete, the
status to write and the Events to post, from the spec and what was observed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pasture_operator.builders import configmap as cm
from pasture_operator.builders import deployment as dep
from pasture_operator.builders import inference_pool as ip
from pasture_operator.builders import leaderworkerset as lws
from pasture_operator.builders import service as svc
from pasture_operator.constants import MODELS_DIR
from pasture_operator.gpu_profiles import GpuProfile
from pasture_operator.reconcile import conditions, workload
from pasture_operator.reconcile.deployment_status import (
    Situation,
    condition_events,
    deployment_conditions,
)
from pasture_operator.reconcile.drift import needs_apply
from pasture_operator.reconcile.model_state import ModelState, model_state
from pasture_operator.reconcile.name_conflicts import NameConflict
from pasture_operator.reconcile.name_conflicts import summary as names_summary
from pasture_operator.reconcile.ownership import CONFLICT_REASON, Conflict, refused, summary
from pasture_operator.reconcile.placement import placement, unknown_profile_message
from pasture_operator.reconcile.pod_health import worst_problem
from pasture_operator.reconcile.status import Event, status_patch
from pasture_operator.spec import child_kinds
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.owner import Owner
from pasture_operator.spec.placement import Placement
from pasture_operator.spec.resolved import Volume

__all__ = [
    "OPTIONAL_KINDS",
    "ChildDefaults",
    "DeploymentObserved",
    "DeploymentPlan",
    "Event",
    "plan_deployment",
]

# Kinds created only in some configurations: deleted when no longer wanted.
OPTIONAL_KINDS: dict[str, str] = child_kinds.optional_children()


@dataclass(frozen=True)
class DeploymentObserved:
    models: Mapping[str, Mapping[str, Any]]  # Model bodies in the namespace, by name
    children: Mapping[tuple[str, str], Mapping[str, Any]]  # (kind, name) -> body
    pods: Sequence[Mapping[str, Any]] = ()
    servicemonitor_crd: bool = False
    inferencepool_crd: bool = False  # Gateway API Inference Extension installed
    leaderworkerset_crd: bool = False  # LeaderWorkerSet installed (multi-node replicas)
    # Events of pods still being created, by pod name (volume attach/mount failures).
    pod_events: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    # Same-named objects this ModelDeployment does not control (reconcile/ownership.py).
    conflicts: Sequence[Conflict] = ()
    # The autoscaler's status.autoscaling (handlers/autoscaler.py), written with ours.
    autoscaling: Mapping[str, Any] | None = None
    # Served names other ModelDeployments in the namespace serve too.
    name_conflicts: Sequence[NameConflict] = ()


@dataclass(frozen=True)
class ChildDefaults:
    """Cluster-wide defaults the plans give the children they build (not kopf's settings)."""

    default_image: str
    # GPU profiles by name, loaded at operator start (gpu_profiles.py).
    gpu_profiles: Mapping[str, GpuProfile] = field(default_factory=dict)
    # Labels a Prometheus selects ServiceMonitors by (e.g. release: kube-prometheus-stack).
    servicemonitor_labels: Mapping[str, str] = field(default_factory=dict)
    # The operator's own namespace, admitted by NetworkPolicies (autoscaler scrapes).
    operator_namespace: str | None = None
    hf_endpoint: str | None = None  # a Hugging Face mirror for runtimes and download Jobs


@dataclass
class DeploymentPlan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[tuple[str, str, str]] = field(default_factory=list)  # apiVersion, kind, name
    status: dict[str, Any] = field(default_factory=dict)
    status_patch: dict[str, Any] | None = None  # None: the status is already as planned
    events: list[Event] = field(default_factory=list)
    desired: list[dict[str, Any]] = field(default_factory=list)  # every child, drifted or not


@dataclass(frozen=True)
class _Placed:
    placement: Placement | None  # None: the spec names a GPU profile the operator lacks
    reason: str = ""  # with a problem: the condition reason that blocks the children
    message: str = ""


def _placement(spec: DeploymentSpec, settings: ChildDefaults) -> _Placed:
    """The spec merged with its GPU profile, or why the pods cannot be built."""
    name = spec.resources.profile
    profile = None
    if name is not None:
        profile = settings.gpu_profiles.get(name)
        if profile is None:
            return _Placed(
                None, "UnknownGPUProfile", unknown_profile_message(name, settings.gpu_profiles)
            )
    place = placement(spec, profile)
    # The CRD checks tensorParallelSize against an explicit resources.gpus; a
    # count that comes from a profile is checked here.
    tp = spec.engine.tensor_parallel_size
    if tp is not None and place.gpus > 0 and tp > place.gpus:
        return _Placed(
            place,
            "InvalidSpec",
            f"engine.tensorParallelSize {tp} exceeds the {place.gpus} GPU(s) per pod"
            + (f" of GPU profile {place.profile!r}" if place.profile else ""),
        )
    return _Placed(place)


@dataclass(frozen=True)
class _Target:
    """What the children are built from."""

    owner: Owner
    spec: DeploymentSpec
    models: ModelState
    placement: Placement
    replicas: int


def _children(t: _Target, obs: DeploymentObserved, settings: ChildDefaults) -> list[dict[str, Any]]:
    base, variants, place, spec = t.models.base, t.models.variants, t.placement, t.spec
    assert base is not None
    config = cm.runtime_config(spec, base, variants, gpus=place.gpus)
    text = cm.render(config)
    # The engine reads the base's weights; variants add only their adapters (each
    # at its own /adapters/<name>), never their own copy of the weights.
    volumes: dict[str, Volume] = {v.name: v for v in base.volumes}
    for m in variants:
        for v in m.volumes:
            if v.mount_path != MODELS_DIR:
                volumes.setdefault(v.name, v)
    inputs = dep.PodInputs(
        image=spec.image or settings.default_image,
        config_hash=cm.config_hash(text),
        volumes=list(volumes.values()),
        placement=place,
        hf_token_secret=base.hf_token_secret,
        hf_endpoint=settings.hf_endpoint,
        hf_offline=not any(m.needs_hub for m in (base, *variants)),
        weights=dep.WeightsCheck(base.verify_weights, base.pinned_digest),
    )
    out = [
        cm.configmap(t.owner, text),
        _workload(t, inputs, config["engine"]),
        svc.service(t.owner, spec),
    ]
    if spec.replicas > 1:
        out.append(svc.pdb(t.owner))
    if obs.servicemonitor_crd:
        out.append(svc.servicemonitor(t.owner, settings.servicemonitor_labels))
    if spec.access is not None:
        out.append(
            svc.networkpolicy(
                t.owner, spec.access, settings.operator_namespace, group=spec.multi_node
            )
        )
    if obs.inferencepool_crd:
        out.append(ip.inference_pool(t.owner, svc.pod_selector(t.owner.name, spec)))
    return out


def _workload(t: _Target, inputs: dep.PodInputs, engine: Mapping[str, Any]) -> dict[str, Any]:
    """The Deployment, or for a replica spanning several nodes the LeaderWorkerSet."""
    if t.spec.multi_node:
        return lws.leader_worker_set(t.owner, t.spec, inputs, replicas=t.replicas, engine=engine)
    return dep.deployment_from(t.owner, t.spec, inputs, replicas=t.replicas)


def _hold(
    desired: list[dict[str, Any]], template: Mapping[str, Any], obs: DeploymentObserved
) -> list[dict[str, Any]]:
    """The children while the Model is not Ready but pods already serve: the
    workload keeps its served pod template (the previous revision's weights and
    config hash) and the ConfigMap its served text; the rest follows the spec."""
    out = []
    for o in desired:
        if o["kind"] == "ConfigMap" and (o["kind"], o["metadata"]["name"]) in obs.children:
            continue
        if o["kind"] in ("Deployment", lws.LWS_KIND):
            o = workload.with_template(o, template)
        out.append(o)
    return out


def _observed(obs: DeploymentObserved, kind: str, name: str) -> dict[str, Any] | None:
    found = obs.children.get((kind, name))
    return dict(found) if found is not None else None


def _replica_events(
    key: tuple[str, str], observed_dep: Mapping[str, Any] | None, replicas: int
) -> list[Event]:
    kind, name = key
    if observed_dep is None:
        return [Event("Normal", "Created", f"created {kind} {name} with {replicas} replica(s)")]
    before = int((observed_dep.get("spec") or {}).get("replicas", 0))
    if before != replicas:
        return [Event("Normal", "Scaled", f"scaled {kind} {name} from {before} to {replicas}")]
    return []


def _fill_children(
    plan: DeploymentPlan,
    t: _Target,
    kept: Mapping[str, Any] | None,
    obs: DeploymentObserved,
    settings: ChildDefaults,
) -> None:
    """The desired children, the drifted ones to apply, the optional ones to delete."""
    plan.desired = _children(t, obs, settings)
    if kept is not None:
        plan.desired = _hold(plan.desired, kept, obs)
    foreign = refused(obs.conflicts)
    plan.apply = [
        o
        for o in plan.desired
        if (o["kind"], o["metadata"]["name"]) not in foreign
        and needs_apply(o, _observed(obs, o["kind"], o["metadata"]["name"]))
    ]
    wanted_kinds = {o["kind"] for o in plan.desired}
    plan.delete = [
        (OPTIONAL_KINDS[kind], kind, n)
        for (kind, n) in obs.children
        if kind in OPTIONAL_KINDS and kind not in wanted_kinds
    ]
    if t.spec.multi_node and ("Deployment", t.owner.name) in obs.children:
        # Grown past one node: the LeaderWorkerSet replaces the Deployment.
        plan.delete.append(("apps/v1", "Deployment", t.owner.name))
    key = workload.workload_key(t.spec, t.owner.name)
    observed_dep = obs.children.get(key)
    if observed_dep is None and key in foreign:
        return  # someone else's workload: we created nothing
    plan.events.extend(_replica_events(key, observed_dep, t.replicas))


def _blocked(
    placed: _Placed, ms: ModelState, spec: DeploymentSpec, obs: DeploymentObserved
) -> tuple[str, str] | None:
    """A spec problem blocks every child: nothing is created or changed until it is
    fixed. The GPU profile is checked first: it does not depend on the Models existing."""
    if placed.reason:
        return placed.reason, placed.message
    missing = workload.unavailable(spec, obs.leaderworkerset_crd)
    if missing is not None:
        return missing
    if ms.invalid is not None:
        return "InvalidSpec", ms.message
    return None


def _status(
    md: Mapping[str, Any], owner: Owner, spec: DeploymentSpec, s: Situation, now: str
) -> tuple[dict[str, Any], list[Event]]:
    old_conditions = (md.get("status") or {}).get("conditions")
    conds = deployment_conditions(s)
    r = s.rollout
    status = {
        "observedGeneration": owner.generation,
        "replicas": r.total,
        "readyReplicas": r.ready,
        "updatedReplicas": r.updated,
        "ready": f"{r.ready}/{s.want}",
        "selector": svc.pod_selector_string(owner.name, spec),
        "endpoint": svc.endpoint(owner, spec),
        "servedNames": s.models.served_names,
        "conditions": conditions.merge(old_conditions, conds, owner.generation, now),
    }
    return status, condition_events(old_conditions, conds)


def plan_deployment(
    md: Mapping[str, Any],
    obs: DeploymentObserved,
    settings: ChildDefaults,
    now: str,
    *,
    spec: DeploymentSpec | None = None,
) -> DeploymentPlan:
    """`spec`: the parsed view when the caller already has it (parsed once per pass)."""
    owner = Owner.from_object(md)
    spec = spec if spec is not None else DeploymentSpec.from_object(md)
    ms = model_state(spec, obs.models)
    placed = _placement(spec, settings)
    blocked = _blocked(placed, ms, spec, obs)
    plan = DeploymentPlan()
    # Pods start only once every model they serve is Ready (e.g. its cache is filled).
    # A Model that leaves Ready later (re-download, edit, failure) never takes
    # serving pods down: they keep the last served revision until the new one is Ready.
    key = workload.workload_key(spec, owner.name)
    observed_dep = obs.children.get(key)
    kept = None if ms.ready or ms.base is None else workload.served_template(observed_dep)
    holding = kept is not None and blocked is None
    replicas = spec.replicas if ms.ready or holding else 0
    if ms.base is not None and blocked is None and placed.placement is not None:
        target = _Target(owner, spec, ms, placed.placement, replicas)
        _fill_children(plan, target, kept, obs, settings)
    situation = Situation(
        models=ms,
        blocked=blocked,
        clash=(CONFLICT_REASON, summary(obs.conflicts)) if obs.conflicts else None,
        holding=holding,
        want=spec.replicas,
        replicas=replicas,
        rollout=workload.rollout(observed_dep, any(o["kind"] == key[0] for o in plan.apply)),
        problem=worst_problem(obs.pods, obs.pod_events),
        name_conflict=names_summary(obs.name_conflicts) or None,
    )
    plan.status, events = _status(md, owner, spec, situation, now)
    plan.events.extend(events)
    if obs.autoscaling is not None:
        plan.status["autoscaling"] = dict(obs.autoscaling)
    plan.status_patch = status_patch(md.get("status"), plan.status)
    return plan

"""The pure plan for one ModelDeployment: desired children, what to delete, the
status to write and the Events to post, from the spec and what was observed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pasture_operator.builders import configmap as cm
from pasture_operator.builders import deployment as dep
from pasture_operator.builders import inference_pool as ip
from pasture_operator.builders import service as svc
from pasture_operator.builders.meta import selector_string
from pasture_operator.constants import MODELS_DIR
from pasture_operator.gpu_profiles import GpuProfile
from pasture_operator.reconcile import conditions
from pasture_operator.reconcile.conditions import Condition
from pasture_operator.reconcile.drift import needs_apply
from pasture_operator.reconcile.name_conflicts import served_names
from pasture_operator.reconcile.ownership import CONFLICT_REASON, Conflict, refused, summary
from pasture_operator.reconcile.placement import (
    Placement,
    placement,
    profile_name,
    unknown_profile_message,
)
from pasture_operator.reconcile.pod_health import worst_problem
from pasture_operator.reconcile.resolve import ResolvedModel, ResolveError, resolve
from pasture_operator.redact import redact

# Kinds created only in some configurations: deleted when no longer wanted.
OPTIONAL_KINDS: dict[str, str] = {
    "PodDisruptionBudget": "policy/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "InferencePool": ip.INFERENCE_POOL_API,
}
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
}


@dataclass(frozen=True)
class DeploymentObserved:
    models: Mapping[str, Mapping[str, Any]]  # Model bodies in the namespace, by name
    children: Mapping[tuple[str, str], Mapping[str, Any]]  # (kind, name) -> body
    pods: Sequence[Mapping[str, Any]] = ()
    servicemonitor_crd: bool = False
    inferencepool_crd: bool = False  # Gateway API Inference Extension installed
    # Events of pods still being created, by pod name (volume attach/mount failures).
    pod_events: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    # Same-named objects this ModelDeployment does not control (reconcile/ownership.py).
    conflicts: Sequence[Conflict] = ()


@dataclass(frozen=True)
class OperatorSettings:
    default_image: str
    # GPU profiles by name, loaded at operator start (gpu_profiles.py).
    gpu_profiles: Mapping[str, GpuProfile] = field(default_factory=dict)
    # Labels a Prometheus selects ServiceMonitors by (e.g. release: kube-prometheus-stack).
    servicemonitor_labels: Mapping[str, str] = field(default_factory=dict)
    # The operator's own namespace, admitted by NetworkPolicies (autoscaler scrapes).
    operator_namespace: str | None = None
    hf_endpoint: str | None = None  # a Hugging Face mirror for runtimes and download Jobs


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class DeploymentPlan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[tuple[str, str, str]] = field(default_factory=list)  # apiVersion, kind, name
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    desired: list[dict[str, Any]] = field(default_factory=list)  # every child, drifted or not


@dataclass(frozen=True)
class _ModelState:
    base: ResolvedModel | None
    variants: tuple[ResolvedModel, ...]
    ready: bool
    reason: str
    message: str
    invalid: str | None = None  # an InvalidSpec message about this ModelDeployment


def _model_phase(body: Mapping[str, Any]) -> tuple[str, str]:
    st = body.get("status") or {}
    seen, generation = st.get("observedGeneration"), (body.get("metadata") or {}).get("generation")
    if seen is not None and generation is not None and int(seen) < int(generation):
        # The phase describes the previous spec (e.g. a source edit not yet looked at):
        # acting on it would roll pods to a source nobody has checked.
        return "Pending", "its new spec is not reconciled yet"
    # Quoted into this object's status and Events: redacted again (a status written
    # by an older operator may still carry URL credentials).
    message = redact(str(st.get("message") or "status not reported yet"))
    return str(st.get("phase") or "Pending"), message


def _models(spec: Mapping[str, Any], models: Mapping[str, Mapping[str, Any]]) -> _ModelState:
    base_name = str((spec.get("modelRef") or {}).get("name") or "")
    names = [base_name, *[str(v) for v in spec.get("variants") or []]]
    resolved: list[ResolvedModel] = []
    for n in names:
        body = models.get(n)
        if body is None:
            return _ModelState(None, (), False, "ModelNotFound", f"Model {n!r} does not exist")
        try:
            resolved.append(resolve(body))
        except ResolveError as e:
            return _ModelState(None, (), False, "ModelFailed", f"Model {n!r}: {e.message}")
    base, variants = resolved[0], tuple(resolved[1:])
    for v in variants:
        if v.base_key != base.base_key:
            return _ModelState(
                base,
                variants,
                False,
                "InvalidSpec",
                f"variant {v.name!r} uses {v.source_text!r}, not the base "
                f"weights {base.source_text!r} of {base.name!r}",
                invalid=f"variant {v.name!r} does not share base weights",
            )
    served = [m.served_name for m in resolved]
    if len(set(served)) != len(served):
        return _ModelState(
            base,
            variants,
            False,
            "InvalidSpec",
            f"served names collide: {', '.join(served)}",
            invalid="two models have the same served name",
        )
    for n in names:
        phase, msg = _model_phase(models[n])
        if phase == "Failed":
            return _ModelState(base, variants, False, "ModelFailed", f"Model {n!r}: {msg}")
        if phase != "Ready":
            return _ModelState(
                base, variants, False, "ModelNotReady", f"Model {n!r} is {phase}: {msg}"
            )
    extra = f" with {len(variants)} variant(s)" if variants else ""
    return _ModelState(base, variants, True, "ModelReady", f"Model {base.name!r}{extra} is ready")


@dataclass(frozen=True)
class _Placed:
    placement: Placement | None  # None: the spec names a GPU profile the operator lacks
    reason: str = ""  # with a problem: the condition reason that blocks the children
    message: str = ""


def _placement(spec: Mapping[str, Any], settings: OperatorSettings) -> _Placed:
    """The spec merged with its GPU profile, or why the pods cannot be built."""
    name = profile_name(spec)
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
    tp = (spec.get("engine") or {}).get("tensorParallelSize")
    if tp is not None and place.gpus > 0 and int(tp) > place.gpus:
        return _Placed(
            place,
            "InvalidSpec",
            f"engine.tensorParallelSize {int(tp)} exceeds the {place.gpus} GPU(s) per pod"
            + (f" of GPU profile {place.profile!r}" if place.profile else ""),
        )
    return _Placed(place)


def _children(
    md: Mapping[str, Any],
    ms: _ModelState,
    obs: DeploymentObserved,
    settings: OperatorSettings,
    replicas: int,
    place: Placement,
) -> list[dict[str, Any]]:
    assert ms.base is not None
    spec = md.get("spec") or {}
    text = cm.render(cm.runtime_config(md, ms.base, ms.variants, gpus=place.gpus))
    # The engine reads the base's weights; variants add only their adapters (each
    # at its own /adapters/<name>), never their own copy of the weights.
    volumes: dict[str, Any] = {v.name: v for v in ms.base.volumes}
    for m in ms.variants:
        for v in m.volumes:
            if v.mount_path != MODELS_DIR:
                volumes.setdefault(v.name, v)
    out = [
        cm.configmap(md, text),
        dep.deployment(
            md,
            image=str(spec.get("image") or settings.default_image),
            replicas=replicas,
            config_hash=cm.config_hash(text),
            volumes=list(volumes.values()),
            placement=place,
            hf_token_secret=ms.base.hf_token_secret,
            hf_endpoint=settings.hf_endpoint,
            hf_offline=not any(m.needs_hub for m in (ms.base, *ms.variants)),
        ),
        svc.service(md),
    ]
    if int(spec.get("replicas", 1)) > 1:
        out.append(svc.pdb(md))
    if obs.servicemonitor_crd:
        out.append(svc.servicemonitor(md, settings.servicemonitor_labels))
    if spec.get("access"):
        out.append(svc.networkpolicy(md, settings.operator_namespace))
    if obs.inferencepool_crd:
        out.append(ip.inference_pool(md))
    return out


def _served_template(observed_dep: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The pod template of a Deployment that already serves (replicas > 0), if any."""
    spec = (observed_dep or {}).get("spec") or {}
    if int(spec.get("replicas") or 0) > 0 and isinstance(spec.get("template"), Mapping):
        return copy.deepcopy(dict(spec["template"]))
    return None


def _hold(
    desired: list[dict[str, Any]], template: Mapping[str, Any], obs: DeploymentObserved
) -> list[dict[str, Any]]:
    """The children while the Model is not Ready but pods already serve: the
    Deployment keeps its served pod template (the previous revision's weights and
    config hash) and the ConfigMap its served text; the rest follows the spec."""
    out = []
    for o in desired:
        if o["kind"] == "ConfigMap" and (o["kind"], o["metadata"]["name"]) in obs.children:
            continue
        if o["kind"] == "Deployment":
            o = {**o, "spec": {**o["spec"], "template": dict(template)}}
        out.append(o)
    return out


def _observed(obs: DeploymentObserved, kind: str, name: str) -> dict[str, Any] | None:
    found = obs.children.get((kind, name))
    return dict(found) if found is not None else None


def _events(old: Sequence[Mapping[str, Any]] | None, new: Sequence[Condition]) -> list[Event]:
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


def plan_deployment(
    md: Mapping[str, Any], obs: DeploymentObserved, settings: OperatorSettings, now: str
) -> DeploymentPlan:
    meta = md["metadata"]
    name = str(meta["name"])
    generation = int(meta.get("generation") or 0)
    spec: Mapping[str, Any] = md.get("spec") or {}
    old_status: Mapping[str, Any] = md.get("status") or {}
    want = int(spec.get("replicas", 1))
    ms = _models(spec, obs.models)
    placed = _placement(spec, settings)
    # A spec problem blocks every child: nothing is created or changed until it is fixed.
    # The GPU profile is checked first: it does not depend on the Models existing.
    blocked: tuple[str, str] | None = None
    if placed.reason:
        blocked = (placed.reason, placed.message)
    elif ms.invalid is not None:
        blocked = ("InvalidSpec", ms.message)
    plan = DeploymentPlan()

    # Pods start only once every model they serve is Ready (e.g. its cache is filled).
    # A Model that leaves Ready later (re-download, edit, failure) never takes
    # serving pods down: they keep the last served revision until the new one is Ready.
    observed_dep = obs.children.get(("Deployment", name))
    kept = None if ms.ready or ms.base is None else _served_template(observed_dep)
    holding = kept is not None and blocked is None
    replicas = want if ms.ready or holding else 0
    if ms.base is not None and blocked is None and placed.placement is not None:
        plan.desired = _children(md, ms, obs, settings, replicas, placed.placement)
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
            (api, kind, n)
            for (kind, n) in obs.children
            if kind in OPTIONAL_KINDS and kind not in wanted_kinds
            for api in [OPTIONAL_KINDS[kind]]
        ]
        if observed_dep is None:
            if ("Deployment", name) not in foreign:
                plan.events.append(
                    Event(
                        "Normal", "Created", f"created Deployment {name} with {replicas} replica(s)"
                    )
                )
        else:
            before = int((observed_dep.get("spec") or {}).get("replicas", 0))
            if before != replicas:
                plan.events.append(
                    Event(
                        "Normal", "Scaled", f"scaled Deployment {name} from {before} to {replicas}"
                    )
                )

    applying_dep = any(o["kind"] == "Deployment" for o in plan.apply)
    dstat: Mapping[str, Any] = (observed_dep or {}).get("status") or {}
    ready_n = int(dstat.get("readyReplicas") or 0)
    updated_n = int(dstat.get("updatedReplicas") or 0)
    total_n = int(dstat.get("replicas") or 0)
    current = (
        observed_dep is not None
        and not applying_dep
        and int(dstat.get("observedGeneration") or 0)
        >= int(observed_dep["metadata"].get("generation") or 0)
    )
    rolled_out = current and updated_n >= replicas and total_n == replicas
    problem = worst_problem(obs.pods, obs.pod_events)

    previous = f"; serving the previous model revision ({ms.message})" if holding else ""
    conds: list[Condition] = []
    clash = (CONFLICT_REASON, summary(obs.conflicts)) if obs.conflicts else None
    if blocked is not None:
        ready = Condition("Ready", "False", *blocked)
    elif clash is not None:
        ready = Condition("Ready", "False", *clash)
    elif not ms.ready and not holding:
        ready = Condition("Ready", "False", "ModelNotReady", ms.message)
    elif want == 0:
        ready = Condition("Ready", "True", "ScaledToZero", "0 replicas requested" + previous)
    elif current and ready_n >= want:
        ready = Condition(
            "Ready", "True", "Available", f"{ready_n}/{want} replicas ready{previous}"
        )
    elif problem is not None:
        ready = Condition("Ready", "False", problem.reason, problem.message)
    else:
        ready = Condition("Ready", "False", "Starting", f"{ready_n}/{want} replicas ready")
    conds.append(ready)

    if blocked is not None:
        conds.append(Condition("Progressing", "False", *blocked))
    elif ms.base is None:
        conds.append(Condition("Progressing", "False", ms.reason, ms.message))
    elif holding:  # the new revision rolls out once the Model is Ready; a Failed one never
        waiting = ms.reason != "ModelFailed"
        conds.append(
            Condition(
                "Progressing",
                "True" if waiting else "False",
                ms.reason,
                f"serving the previous model revision; {ms.message}",
            )
        )
    elif rolled_out:
        conds.append(
            Condition(
                "Progressing", "False", "Complete", f"{updated_n}/{replicas} replicas up to date"
            )
        )
    elif problem is not None:
        conds.append(Condition("Progressing", "False", problem.reason, problem.message))
    else:
        conds.append(
            Condition(
                "Progressing", "True", "RollingOut", f"{updated_n}/{replicas} replicas up to date"
            )
        )

    if blocked is not None:
        conds.append(Condition("Degraded", "True", *blocked))
    elif clash is not None:
        conds.append(Condition("Degraded", "True", *clash))
    elif ms.reason in ("ModelNotFound", "ModelFailed"):
        conds.append(Condition("Degraded", "True", ms.reason, ms.message))
    elif problem is not None:
        conds.append(Condition("Degraded", "True", problem.reason, problem.message))
    else:
        conds.append(Condition("Degraded", "False", "AsExpected", "no failures observed"))

    conds.append(Condition("ModelReady", "True" if ms.ready else "False", ms.reason, ms.message))
    plan.events.extend(_events(old_status.get("conditions"), conds))

    served = served_names((ms.base, *ms.variants) if ms.base else ())  # aliases too (gateway)
    plan.status = {
        "observedGeneration": generation,
        "replicas": total_n,
        "readyReplicas": ready_n,
        "updatedReplicas": updated_n,
        "ready": f"{ready_n}/{want}",
        "selector": selector_string(name),
        "endpoint": svc.endpoint(md),
        "servedNames": served,
        "conditions": conditions.merge(old_status.get("conditions"), conds, generation, now),
    }
    return plan

"""Plan for one Model: its cache children (PVC + download Job), its status and Events.

The status is derived from what was observed: the source PVC for pvc sources;
for cached models the cache PVC, the download Job and its pods (termination
message, OOMKilled). While a download runs, its Job has its own ServiceAccount,
Role and RoleBinding (builders/download_access.py) and writes its progress into
the status itself; the plan carries those fields over (progress_fields.carried).
Children already as wanted are not applied again (reconcile/drift.py), as for
ModelDeployments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pasture_operator import modelfile
from pasture_operator.builders import cache as cache_builders
from pasture_operator.builders.download_access import download_access
from pasture_operator.progress_fields import carried
from pasture_operator.reconcile import conditions
from pasture_operator.reconcile.conditions import Condition
from pasture_operator.reconcile.drift import needs_apply
from pasture_operator.reconcile.ownership import CONFLICT_REASON, Conflict, summary
from pasture_operator.reconcile.resolve import ResolveError, resolve_spec
from pasture_operator.reconcile.status import Event, status_patch
from pasture_operator.redact import redact
from pasture_operator.spec.model import ModelSpec
from pasture_operator.spec.owner import Owner
from pasture_operator.spec.resolved import ResolvedModel

# The Model's Ready reason when the downloaded weights are not the pinned ones.
DIGEST_MISMATCH = "DigestMismatch"


@dataclass(frozen=True)
class ModelObserved:
    source_pvc: Mapping[str, Any] | None = None  # for pvc sources
    cache_pvc: Mapping[str, Any] | None = None
    jobs: Sequence[Mapping[str, Any]] = ()  # this Model's download Jobs
    job_pods: Sequence[Mapping[str, Any]] = ()
    # The download Jobs' ServiceAccounts, Roles and RoleBindings of this Model.
    access: Sequence[Mapping[str, Any]] = ()
    storage_classes: Sequence[Mapping[str, Any]] | None = None  # None: not looked up
    # Same-named objects this Model does not control (reconcile/ownership.py).
    conflicts: Sequence[Conflict] = ()


@dataclass
class ModelPlan:
    resolved: ResolvedModel | None
    apply: list[dict[str, Any]] = field(default_factory=list)  # drifted children only
    delete: list[tuple[str, str, str]] = field(default_factory=list)  # apiVersion, kind, name
    status: dict[str, Any] = field(default_factory=dict)
    status_patch: dict[str, Any] | None = None  # None: the status is already as planned
    events: list[Event] = field(default_factory=list)
    desired: list[dict[str, Any]] = field(default_factory=list)  # every child, drifted or not
    phase: str = "Pending"
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class _Phase:
    phase: str
    reason: str
    message: str
    digest: str | None = None  # the weights manifest's (status.digest)


def _job_condition(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return dict(c)
    return None


def _pod_failure(pods: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) of the latest failed download container, if any."""
    for pod in sorted(
        pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""), reverse=True
    ):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get(
                "terminated"
            )
            if not term or term.get("exitCode") == 0:
                continue
            if term.get("reason") == "OOMKilled":
                return "DownloadOOMKilled", (
                    "the download Job was OOMKilled; archives are "
                    "extracted in a stream, check the container limit"
                )
            msg = str(term.get("message") or "").strip()
            if msg:
                return "DownloadFailed", msg.splitlines()[-1][:1000]
    return None


def _job_pods(resolved: ResolvedModel, obs: ModelObserved) -> list[Mapping[str, Any]]:
    name = cache_builders.job_name(resolved)
    return [
        p
        for p in obs.job_pods
        if ((p.get("metadata") or {}).get("labels") or {}).get("job-name") == name
    ]


def pin_mismatch(pinned: str | None, actual: str | None) -> str | None:
    """Why spec.digest refuses what was downloaded; None when the pin holds (or there is none)."""
    if not pinned or actual == pinned:
        return None
    if not actual:
        return (
            f"spec.digest pins {pinned}, but the download reported no digest "
            "(a downloader image without manifests?); nothing is served"
        )
    return (
        f"the downloaded weights have digest {actual}, but spec.digest pins {pinned}; "
        "nothing is served (check the source, or update the pin)"
    )


def _with_digest(
    ph: _Phase, resolved: ResolvedModel, obs: ModelObserved, old: Mapping[str, Any]
) -> _Phase:
    """The phase with the weights' digest, and Failed when it breaks the pin.

    The downloader writes the digest into status itself with its final report
    (progress.py); it belongs to this source while this source's Job exists. A new
    source has a new Job, so no stale digest survives it."""
    if not resolved.cache:
        return ph  # only a download writes a manifest
    digest = str(old["digest"]) if old.get("digest") and _downloading(resolved, obs) else None
    ph = replace(ph, digest=digest)
    why = pin_mismatch(resolved.pinned_digest, digest) if ph.phase == "Ready" else None
    return replace(ph, phase="Failed", reason=DIGEST_MISMATCH, message=why) if why else ph


def _pvc_unbound_message(
    pvc: Mapping[str, Any], classes: Sequence[Mapping[str, Any]] | None, what: str
) -> str:
    name = pvc["metadata"]["name"]
    wanted = (pvc.get("spec") or {}).get("storageClassName")
    if classes is not None:
        names = {c["metadata"]["name"] for c in classes}
        default = any(
            ((c.get("metadata") or {}).get("annotations") or {}).get(
                "storageclass.kubernetes.io/is-default-class"
            )
            == "true"
            for c in classes
        )
        if wanted and wanted not in names:
            return f"{what} PVC {name} is unbound: StorageClass {wanted!r} does not exist"
        if not wanted and not default:
            return (
                f"{what} PVC {name} is unbound: no storageClassName given and the "
                "cluster has no default StorageClass"
            )
    return f"{what} PVC {name} is not bound yet"


def _cache_phase(resolved: ResolvedModel, obs: ModelObserved) -> _Phase:
    name = cache_builders.job_name(resolved)
    job = next((j for j in obs.jobs if j["metadata"]["name"] == name), None)
    pods = _job_pods(resolved, obs)
    if job is not None and _job_condition(job, "Complete"):
        return _Phase("Ready", "Downloaded", "the cache holds the model")
    if job is not None and _job_condition(job, "Failed"):
        failed = _job_condition(job, "Failed") or {}
        found = _pod_failure(pods)
        if found:
            return _Phase("Failed", found[0], found[1])
        return _Phase(
            "Failed",
            "DownloadFailed",
            str(failed.get("message") or failed.get("reason") or "download Job failed"),
        )
    pvc = obs.cache_pvc
    if pvc is not None and (pvc.get("status") or {}).get("phase") == "Lost":
        return _Phase("Failed", "PVCLost", f"cache PVC {pvc['metadata']['name']} is Lost")
    running = any((p.get("status") or {}).get("phase") == "Running" for p in pods)
    if running:
        return _Phase("Downloading", "Downloading", "downloading into the cache")
    if pvc is not None and (pvc.get("status") or {}).get("phase") != "Bound":
        mode_wait = any(
            c.get("metadata", {}).get("name") == (pvc.get("spec") or {}).get("storageClassName")
            and c.get("volumeBindingMode") == "WaitForFirstConsumer"
            for c in obs.storage_classes or ()
        )
        if not mode_wait:
            return _Phase(
                "Pending", "PVCUnbound", _pvc_unbound_message(pvc, obs.storage_classes, "cache")
            )
    found = _pod_failure(pods)
    if found:  # a retry is pending after a failed attempt
        return _Phase("Pending", found[0], found[1])
    return _Phase("Pending", "DownloadPending", "waiting for the download Job to start")


def _phase(resolved: ResolvedModel, obs: ModelObserved) -> _Phase:
    if resolved.cache:
        return _cache_phase(resolved, obs)
    if "pvc" in resolved.source:
        claim = resolved.source["pvc"]["claimName"]
        if obs.source_pvc is None:
            return _Phase("Pending", "PVCNotFound", f"PVC {claim} does not exist")
        if (obs.source_pvc.get("status") or {}).get("phase") != "Bound":
            return _Phase(
                "Pending",
                "PVCUnbound",
                _pvc_unbound_message(obs.source_pvc, obs.storage_classes, "source"),
            )
        return _Phase("Ready", "PVCBound", f"weights on PVC {claim}")
    # Hugging Face and library sources are fetched by the runtime at start.
    return _Phase("Ready", "Resolved", f"served from {resolved.source_text}")


def _children(
    owner: Owner,
    resolved: ResolvedModel,
    ph: _Phase,
    obs: ModelObserved,
    downloader_image: str,
    hf_endpoint: str | None,
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """The cache PVC and (until Ready) the download Job with its access (its own
    ServiceAccount, made first); the Jobs of older sources and the access of a
    finished or replaced Job go."""
    if not resolved.cache:
        return [], []
    wanted = cache_builders.job_name(resolved)
    desired = [cache_builders.pvc(owner, resolved)]
    if ph.phase not in ("Ready", "Failed"):
        desired += download_access(owner, wanted)
    # A Job's pod template is immutable: an existing one is never re-applied (an
    # operator upgrade that changes the template would otherwise be refused).
    if ph.phase != "Ready" and not any(j["metadata"]["name"] == wanted for j in obs.jobs):
        desired.append(cache_builders.job(owner, resolved, downloader_image, hf_endpoint))
    delete = [
        ("batch/v1", "Job", j["metadata"]["name"])
        for j in obs.jobs
        if j["metadata"]["name"] != wanted
    ]
    kept = {(o["kind"], o["metadata"]["name"]) for o in desired}
    delete += [
        (str(o["apiVersion"]), str(o["kind"]), str(o["metadata"]["name"]))
        for o in obs.access
        if (o["kind"], o["metadata"]["name"]) not in kept
    ]
    return desired, delete


def _observed(obs: ModelObserved, obj: Mapping[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "PersistentVolumeClaim":
        found = obs.cache_pvc
    else:
        kind, name = obj["kind"], obj["metadata"]["name"]
        found = next(
            (
                o
                for o in (*obs.jobs, *obs.access)
                if o.get("kind", "Job") == kind and o["metadata"]["name"] == name
            ),
            None,
        )
    return dict(found) if found is not None else None


def _downloading(resolved: ResolvedModel | None, obs: ModelObserved) -> bool:
    """Does the download Job of the current source exist (its progress fields are
    the ones in status)? Before it is made, fields of an older source are dropped."""
    if resolved is None or not resolved.cache:
        return False
    wanted = cache_builders.job_name(resolved)
    return any(j["metadata"]["name"] == wanted for j in obs.jobs)


def _status(
    model: Mapping[str, Any],
    spec: ModelSpec,
    resolved: ResolvedModel | None,
    ph: _Phase,
    now: str,
    obs: ModelObserved,
) -> dict[str, Any]:
    generation = int(model["metadata"].get("generation") or 0)
    old_status: Mapping[str, Any] = model.get("status") or {}
    # Messages quote downloader errors and URLs: shown in status and Events, never
    # with credentials.
    message = redact(ph.message)
    ready = Condition("Ready", "True" if ph.phase == "Ready" else "False", ph.reason, message)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": ph.phase,
        "servedName": resolved.served_name if resolved else spec.served_name,
        "source": resolved.source_text if resolved else "",
        "message": message,
        "conditions": conditions.merge(old_status.get("conditions"), [ready], generation, now),
    }
    if resolved is not None:
        status["kind"] = resolved.kind  # effective: spec.kind, else the catalog entry's
        status["enginePath"] = resolved.engine_model
        if resolved.cache:
            status["size"] = resolved.cache.size
        ignored = modelfile.ignored_parameters(resolved.entry["parameters"])
        if ignored:  # accepted as Ollama does, but nothing in vLLM honours them
            status["ignoredParameters"] = list(ignored)
            status["message"] += f"; ignored parameters (no vLLM equivalent): {', '.join(ignored)}"
    if _downloading(resolved, obs):
        # Written by the downloader: carried over unchanged, so a pass never undoes a
        # newer report (the merge patch leaves keys that did not change alone).
        status.update(carried(old_status, ph.phase))
    if ph.digest:
        status["digest"] = ph.digest
    return status


def plan_model(
    model: Mapping[str, Any],
    obs: ModelObserved,
    *,
    downloader_image: str,
    now: str,
    hf_endpoint: str | None = None,
    spec: ModelSpec | None = None,
) -> ModelPlan:
    """`spec`: the parsed view when the caller already has it (parsed once per pass)."""
    spec = spec if spec is not None else ModelSpec.from_object(model)
    try:
        resolved: ResolvedModel | None = resolve_spec(spec)
    except ResolveError as e:
        resolved = None
        ph = _Phase("Failed", e.reason, e.message)
    plan = ModelPlan(resolved=resolved)
    if resolved is not None and obs.conflicts:
        # Nothing is applied: the download Job would write into a PVC that is not ours.
        ph = _Phase("Failed", CONFLICT_REASON, summary(obs.conflicts))
    elif resolved is not None:
        ph = _with_digest(_phase(resolved, obs), resolved, obs, model.get("status") or {})
        plan.desired, plan.delete = _children(
            Owner.from_object(model), resolved, ph, obs, downloader_image, hf_endpoint
        )
        plan.apply = [o for o in plan.desired if needs_apply(o, _observed(obs, o))]
    plan.status = _status(model, spec, resolved, ph, now, obs)
    plan.phase, plan.reason, plan.message = ph.phase, ph.reason, plan.status["message"]
    plan.status_patch = status_patch(model.get("status"), plan.status)
    if (model.get("status") or {}).get("phase") != plan.phase:
        etype = "Warning" if plan.phase == "Failed" else "Normal"
        plan.events.append(Event(etype, plan.reason or plan.phase, plan.message))
    return plan

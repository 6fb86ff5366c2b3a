"""The controller: watch events -> store -> work queue -> observe, plan, apply, status.

kopf delivers watch events (handlers in main.py call `observe`); a key per
Model / ModelDeployment is queued, deduplicated and processed by a few
workers. Each pass reads only the store, runs the pure plan, applies the
drifted children, and writes status once if it changed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pasture_operator import metrics
from pasture_operator.builders.inference_pool import INFERENCE_POOL_API
from pasture_operator.builders.leaderworkerset import LWS_API_VERSION
from pasture_operator.constants import (
    API_VERSION,
    DEPLOYMENT_KIND,
    LABEL_DEPLOYMENT,
    LABEL_MODEL,
    MODEL_KIND,
)
from pasture_operator.gpu_profiles import GpuProfile
from pasture_operator.handlers.api_presence import ApiPresence
from pasture_operator.handlers.autoscaler import TICK_KIND, Autoscaler
from pasture_operator.kube.client import Kube, KubeError
from pasture_operator.kube.resync import Resyncer
from pasture_operator.kube.store import Store
from pasture_operator.kube.workqueue import WorkQueue
from pasture_operator.reconcile import conditions, ownership, pod_health, workload
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, ModelPlan, plan_model
from pasture_operator.reconcile.name_conflicts import NameConflict, name_conflicts
from pasture_operator.reconcile.status import Event
from pasture_operator.reconcile.status import status_patch as status_patch  # re-exported
from pasture_operator.spec import child_kinds
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.model import ModelSpec

logger = logging.getLogger("pasture_operator")

DEPLOYMENT_CHILD_KINDS = child_kinds.children_of(DEPLOYMENT_KIND)
# A download Job's ServiceAccount, Role and RoleBinding (builders/download_access.py).
MODEL_ACCESS_KINDS = ("ServiceAccount", "Role", "RoleBinding")
# How long the "does the ServiceMonitor CRD exist" answer is trusted.
_CAPABILITY_TTL = 60.0
_GROUP_POLL = 5.0  # seconds between looks at a multi-node deployment's groups until ready
# Pods waiting on volumes change nothing we watch: look at their Events again this often.
CREATING_RECHECK_SECONDS = 30.0
# A refused same-named object is not watched (it lacks our labels): look again this often.
CONFLICT_RECHECK_SECONDS = 20.0


@dataclass(frozen=True)
class ReconcileConfig:
    """What the reconcile loop needs: images, workers, namespaces, resync, defaults for plans."""

    default_image: str
    downloader_image: str
    workers: int = 8
    gpu_profiles: Mapping[str, GpuProfile] = field(default_factory=dict)
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    resync_seconds: float = 300.0  # safety-net re-list period (0: only after kopf re-lists)
    servicemonitor_labels: Mapping[str, str] = field(default_factory=dict)
    operator_namespace: str | None = None
    hf_endpoint: str | None = None

    def plan_settings(self) -> ChildDefaults:
        return ChildDefaults(
            self.default_image,
            self.gpu_profiles,
            servicemonitor_labels=self.servicemonitor_labels,
            operator_namespace=self.operator_namespace,
            hf_endpoint=self.hf_endpoint,
        )


class Controller:
    def __init__(self, kube: Kube, config: ReconcileConfig) -> None:
        self.kube = kube
        self.config = config
        self.store = Store()
        self.queue = WorkQueue(self._process, workers=config.workers)
        self.apis = ApiPresence(kube, _CAPABILITY_TTL)  # optional kinds' CRDs
        self.autoscaler = Autoscaler(kube, self.store, self.queue)
        self.resyncer = Resyncer(
            kube, self.store, self.observe, config.namespaces, config.resync_seconds
        )

    def start(self) -> None:
        self.queue.start()
        self.resyncer.start()

    async def stop(self) -> None:
        await self.resyncer.stop()
        await self.queue.stop()
        await self.autoscaler.close()

    # --- intake ------------------------------------------------------------
    def observe(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (type None: kopf is listing), or a resync's finding."""
        meta = body.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if event_type is None:  # a (re-)list never reports what is gone: see kube/resync.py
            self.resyncer.request()
        if kind == DEPLOYMENT_KIND:
            self._requeue_if_names_moved(ns, name, event_type, body)
        if event_type == "DELETED":
            self.store.remove(kind, ns, name)
        else:
            self.store.put(kind, body)
        labels = meta.get("labels") or {}
        if kind in (DEPLOYMENT_KIND, MODEL_KIND):
            self._queue_resource(kind, ns, name)
        if labels.get(LABEL_DEPLOYMENT):
            self.queue.add((DEPLOYMENT_KIND, ns, labels[LABEL_DEPLOYMENT]))
        if labels.get(LABEL_MODEL):
            self.queue.add((MODEL_KIND, ns, labels[LABEL_MODEL]))
        if kind == "PersistentVolumeClaim":  # a user's PVC a Model reads from
            for model in self.store.in_namespace(MODEL_KIND, ns):
                if ModelSpec.from_object(model).source_claim == name:
                    self.queue.add((MODEL_KIND, ns, model["metadata"]["name"]))
        metrics.MANAGED.labels(DEPLOYMENT_KIND).set(self.store.count(DEPLOYMENT_KIND))
        metrics.MANAGED.labels(MODEL_KIND).set(self.store.count(MODEL_KIND))
        metrics.QUEUE_DEPTH.set(len(self.queue))

    def _queue_resource(self, kind: str, ns: str, name: str) -> None:
        """A Model or ModelDeployment; a Model's ModelDeployments look again too."""
        self.queue.add((kind, ns, name))
        if kind == MODEL_KIND:
            for md in self.store.in_namespace(DEPLOYMENT_KIND, ns):
                if name in DeploymentSpec.from_object(md).model_names:
                    self.queue.add((DEPLOYMENT_KIND, ns, md["metadata"]["name"]))

    def _requeue_if_names_moved(
        self, ns: str, name: str, event_type: str | None, body: Mapping[str, Any]
    ) -> None:
        """A ModelDeployment's served names changed (or it went): the others in its
        namespace look again, since a name conflict (gateway routing) may have
        started or ended for them too."""
        before = self.store.get(DEPLOYMENT_KIND, ns, name)
        if event_type != "DELETED" and _served(before) == _served(body):
            return
        for other in self.store.in_namespace(DEPLOYMENT_KIND, ns):
            if other["metadata"]["name"] != name:
                self.queue.add((DEPLOYMENT_KIND, ns, other["metadata"]["name"]))

    def _name_conflicts(self, ns: str, name: str) -> list[NameConflict]:
        served = {
            str(md["metadata"]["name"]): _served(md)
            for md in self.store.in_namespace(DEPLOYMENT_KIND, ns)
        }
        return name_conflicts(served).get(name, [])

    # --- processing --------------------------------------------------------
    async def _process(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        kind, ns, name = (str(part) for part in key)
        if kind == TICK_KIND:  # errors handled inside: a tick always schedules the next
            await self.autoscaler.tick(key)
            return
        started = time.perf_counter()
        try:
            if kind == DEPLOYMENT_KIND:
                await self.reconcile_deployment(ns, name)
            else:
                await self.reconcile_model(ns, name)
        except Exception:
            metrics.RECONCILES.labels(kind, "error").inc()
            raise
        else:
            metrics.RECONCILES.labels(kind, "success").inc()
        finally:
            metrics.RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)
            metrics.QUEUE_DEPTH.set(len(self.queue))

    async def _conflicts(
        self, ns: str, objects: Sequence[Mapping[str, Any]], owner: Mapping[str, Any]
    ) -> list[ownership.Conflict]:
        """Objects about to be applied that exist and are not controlled by `owner`.

        The store holds only labelled children (and every PVC): a user's object
        with a child's name is looked up, once per apply, before it is created.
        """
        found: list[ownership.Conflict] = []
        for obj in objects:
            kind, name = str(obj["kind"]), str(obj["metadata"]["name"])
            existing = self.store.get(kind, ns, name)
            if existing is None:
                existing = await self.kube.get(str(obj["apiVersion"]), kind, ns, name)
            clash = ownership.conflict(existing, kind, str(owner["metadata"]["uid"]))
            if clash is not None:
                found.append(clash)
        if found:
            self.queue.add_after(
                (str(owner["kind"]), ns, owner["metadata"]["name"]), CONFLICT_RECHECK_SECONDS
            )
        return found

    async def _volume_events(
        self, ns: str, name: str, pods: Sequence[Mapping[str, Any]]
    ) -> dict[str, list[dict[str, Any]]]:
        """Events of pods still being created: a volume attach or mount failure
        (Multi-Attach on a ReadWriteOnce cache) shows only there. Best effort."""
        found: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            if not pod_health.creating(pod):
                continue
            pod_name = str(pod["metadata"]["name"])
            selector = f"involvedObject.kind=Pod,involvedObject.name={pod_name}"
            try:
                found[pod_name] = await self.kube.list("v1", "Event", ns, field_selector=selector)
            except KubeError as e:
                logger.warning("could not read Events of pod %s/%s: %s", ns, pod_name, e)
        if found:
            self.queue.add_after((DEPLOYMENT_KIND, ns, name), CREATING_RECHECK_SECONDS)
        return found

    async def _apply_all(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            result = await self.kube.apply(obj)
            metrics.APPLIES.labels(obj["kind"]).inc()
            self.store.put(obj["kind"], result)

    async def _write_status(
        self, kind: str, body: Mapping[str, Any], patch: Mapping[str, Any] | None
    ) -> None:
        if patch is None:  # the status is already as planned
            return
        meta = body["metadata"]
        try:
            result = await self.kube.patch_status(
                API_VERSION, kind, meta["namespace"], meta["name"], patch
            )
        except KubeError as e:
            if e.status == 404:  # deleted meanwhile
                return
            raise
        metrics.STATUS_WRITES.labels(kind).inc()
        if kind == DEPLOYMENT_KIND:
            # The result goes into the store now, so the watch event that follows
            # looks unchanged: a change of served names is caught here.
            self._requeue_if_names_moved(meta["namespace"], meta["name"], "MODIFIED", result)
        self.store.put(kind, result)

    async def _post_events(self, body: Mapping[str, Any], events: list[Event], now: str) -> None:
        for ev in events:
            try:
                await self.kube.post_event(body, ev.type, ev.reason, ev.message, now)
            except KubeError as e:  # an Event is best effort; never fail the pass on it
                logger.warning("could not post event %s: %s", ev.reason, e)

    async def _refresh(self, ns: str, api_version: str, kind: str, deployment: str) -> None:
        for body in await self.kube.list(api_version, kind, ns, f"{LABEL_DEPLOYMENT}={deployment}"):
            body.setdefault("apiVersion", api_version)
            body.setdefault("kind", kind)
            self.store.put(kind, body)

    async def _apply_plan(
        self, ns: str, apply: list[dict[str, Any]], delete: Sequence[tuple[str, str, str]]
    ) -> None:
        await self._apply_all(apply)
        for api_version, kind, child in delete:
            await self.kube.delete(api_version, kind, ns, child)
            self.store.remove(kind, ns, child)

    async def _observe_deployment(
        self, md: Mapping[str, Any], spec: DeploymentSpec
    ) -> DeploymentObserved:
        ns, name = str(md["metadata"]["namespace"]), str(md["metadata"]["name"])
        kind, workload_name = workload.workload_key(spec, name)  # Deployment or LeaderWorkerSet
        groups = spec.multi_node and await self.apis.serves(LWS_API_VERSION)
        if groups:
            # kopf may never watch a kind whose CRD appeared after the operator
            # started (LeaderWorkerSet installed later): read the group's status
            # from the apiserver on every pass instead of trusting the store.
            cold = self.store.get(kind, ns, workload_name) is None
            await self._refresh(ns, LWS_API_VERSION, kind, name)
            if cold:
                await self._refresh(ns, "v1", "Pod", name)
        elif self.store.get(kind, ns, workload_name) is None and groups == spec.multi_node:
            # Missing from the store: deleted, never made, or the watch's initial
            # listing has not reached it yet (operator start). Ask the apiserver so a
            # cold store never flips a Ready status.
            await self._refresh(ns, child_kinds.BY_KIND[kind].api_version, kind, name)
            await self._refresh(ns, "v1", "Pod", name)
        for n in spec.model_names:
            if n and self.store.get(MODEL_KIND, ns, n) is None:
                found = await self.kube.get(API_VERSION, MODEL_KIND, ns, n)
                if found is not None:
                    self.store.put(MODEL_KIND, found)
        children = {
            (k, b["metadata"]["name"]): b
            for k in DEPLOYMENT_CHILD_KINDS
            for b in self.store.labelled(k, ns, LABEL_DEPLOYMENT, name)
        }
        models = {
            n: m for n in spec.model_names if (m := self.store.get(MODEL_KIND, ns, n)) is not None
        }
        pods = self.store.labelled("Pod", ns, LABEL_DEPLOYMENT, name)
        return DeploymentObserved(
            models=models,
            children=children,
            pods=pods,
            servicemonitor_crd=await self.apis.serves("monitoring.coreos.com/v1"),
            inferencepool_crd=await self.apis.serves(INFERENCE_POOL_API),
            leaderworkerset_crd=groups,
            pod_events=await self._volume_events(ns, name, pods),
            autoscaling=self.autoscaler.status_for(md),
            name_conflicts=self._name_conflicts(ns, name),
        )

    async def reconcile_deployment(self, ns: str, name: str) -> None:
        md = self.store.get(DEPLOYMENT_KIND, ns, name)
        if md is None or md["metadata"].get("deletionTimestamp"):
            metrics.remove_deployment_state(ns, name)
            return  # children go with their owner (garbage collector)
        spec = DeploymentSpec.from_object(md)
        observed = await self._observe_deployment(md, spec)
        now = conditions.now_rfc3339()
        settings = self.config.plan_settings()
        plan = plan_deployment(md, observed, settings, now, spec=spec)
        clashes = await self._conflicts(ns, plan.apply, md)
        if clashes:  # plan again without them: the status and Events name them
            observed = dataclasses.replace(observed, conflicts=clashes)
            plan = plan_deployment(md, observed, settings, now, spec=spec)
        metrics.export_deployment_state(ns, name, spec.replicas, plan.status)
        await self._apply_plan(ns, plan.apply, plan.delete)
        await self._write_status(DEPLOYMENT_KIND, md, plan.status_patch)
        await self._post_events(md, plan.events, now)
        self.autoscaler.ensure(md)
        if spec.multi_node and not observed.leaderworkerset_crd:
            # Nothing we watch changes when LeaderWorkerSet gets installed: look again.
            self.queue.add_after((DEPLOYMENT_KIND, ns, name), _CAPABILITY_TTL)
        elif spec.multi_node and not metrics.status_ready(plan.status):
            # Its LeaderWorkerSet's status may change unwatched (see _observe_deployment):
            # look again until the groups are ready.
            self.queue.add_after((DEPLOYMENT_KIND, ns, name), _GROUP_POLL)
        if plan.apply or plan.events:
            logger.info(
                "reconciled modeldeployment %s/%s: applied %s, events %s",
                ns,
                name,
                [o["kind"] for o in plan.apply],
                [e.reason for e in plan.events],
            )

    def _plan_model(
        self, model: Mapping[str, Any], spec: ModelSpec, observed: ModelObserved, now: str
    ) -> ModelPlan:
        return plan_model(
            model,
            observed,
            downloader_image=self.config.downloader_image,
            now=now,
            hf_endpoint=self.config.hf_endpoint,
            spec=spec,
        )

    async def _observe_model(self, ns: str, spec: ModelSpec) -> ModelObserved:
        cache_pvc = self.store.get("PersistentVolumeClaim", ns, spec.cache_claim)
        claim = spec.source_claim
        source_pvc = self.store.get("PersistentVolumeClaim", ns, claim) if claim else None
        classes = None
        pending = [
            p
            for p in (cache_pvc, source_pvc)
            if p is not None and (p.get("status") or {}).get("phase") != "Bound"
        ]
        if pending:  # only then does the root cause depend on StorageClasses
            classes = await self.kube.list("storage.k8s.io/v1", "StorageClass")
        return ModelObserved(
            source_pvc=source_pvc,
            cache_pvc=cache_pvc,
            jobs=self.store.labelled("Job", ns, LABEL_MODEL, spec.name),
            job_pods=self.store.labelled("Pod", ns, LABEL_MODEL, spec.name),
            access=[
                o
                for kind in MODEL_ACCESS_KINDS
                for o in self.store.labelled(kind, ns, LABEL_MODEL, spec.name)
            ],
            storage_classes=classes,
        )

    async def reconcile_model(self, ns: str, name: str) -> None:
        model = self.store.get(MODEL_KIND, ns, name)
        if model is None or model["metadata"].get("deletionTimestamp"):
            metrics.remove_model_phase(ns, name)
            return
        spec = ModelSpec.from_object(model)
        observed = await self._observe_model(ns, spec)
        now = conditions.now_rfc3339()
        plan = self._plan_model(model, spec, observed, now)
        clashes = await self._conflicts(ns, plan.apply, model)
        if clashes:  # plan again without them: nothing is applied, the status names them
            observed = dataclasses.replace(observed, conflicts=clashes)
            plan = self._plan_model(model, spec, observed, now)
        metrics.set_model_phase(ns, name, plan.phase)
        await self._apply_plan(ns, plan.apply, plan.delete)
        await self._write_status(MODEL_KIND, model, plan.status_patch)
        await self._post_events(model, plan.events, now)


def _served(md: Mapping[str, Any] | None) -> list[str]:
    """The names a ModelDeployment's pods answer to, as its last status says."""
    return [str(n) for n in ((md or {}).get("status") or {}).get("servedNames") or []]

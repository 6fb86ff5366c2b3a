"""The per-object gauges the dashboards and alerts use, set by the reconcile pass
from the state its status is derived from, removed when the object goes away.

The controller runs against an in-memory fake apiserver (no cluster needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import REGISTRY

from pasture_operator.handlers.controller import Controller, ReconcileConfig
from pasture_operator.kube.store import Store
from tests.operator.helpers import md, model


class FakeKube:
    """Just what a reconcile pass calls; applies and status patches echo back."""

    def __init__(self) -> None:
        self.status_patches: list[dict[str, Any]] = []
        self.store: Store | None = None

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "1"}}

    async def patch_status(
        self, api_version: str, kind: str, ns: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self.status_patches.append(patch)
        assert self.store is not None
        body = self.store.get(kind, ns, name) or {}
        status = {k: v for k, v in {**(body.get("status") or {}), **patch}.items() if v is not None}
        return {**body, "status": status}

    async def post_event(self, *args: Any) -> None:
        return None

    async def group_version_exists(self, group_version: str) -> bool:
        return False

    async def list(self, *args: Any) -> list[dict[str, Any]]:
        return []

    async def get(self, *args: Any) -> None:
        return None

    async def delete(self, *args: Any) -> None:
        return None


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def controller() -> Controller:
    fake = FakeKube()
    kube: Any = fake
    c = Controller(kube, ReconcileConfig(default_image="rt:test", downloader_image="dl:test"))
    fake.store = c.store
    return c


def rolled_out(applied: Mapping[str, Any], ready: int) -> dict[str, Any]:
    """The Deployment as applied, after the (absent) kubelets made `ready` pods ready."""
    replicas = applied["spec"]["replicas"]
    return {
        **applied,
        "metadata": {**applied["metadata"], "generation": 1, "resourceVersion": "5"},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": replicas,
        },
    }


async def test_deployment_gauges_follow_status_and_go_with_the_object() -> None:
    c = controller()
    c.store.put("Model", model())
    c.store.put("ModelDeployment", md("gauges-a", replicas=2))
    await c.reconcile_deployment("ns", "gauges-a")
    labels = {"namespace": "ns", "modeldeployment": "gauges-a"}
    # Created now: no Deployment observed yet, so nothing ready.
    assert value("pasture_operator_modeldeployment_desired_replicas", **labels) == 2
    assert value("pasture_operator_modeldeployment_ready_replicas", **labels) == 0
    assert value("pasture_operator_modeldeployment_ready", **labels) == 0

    applied = c.store.get("Deployment", "ns", "gauges-a")
    assert applied is not None
    c.store.put("Deployment", rolled_out(applied, ready=2))
    await c.reconcile_deployment("ns", "gauges-a")
    status = c.kube.status_patches[-1]  # type: ignore[attr-defined]
    assert status["readyReplicas"] == 2
    assert value("pasture_operator_modeldeployment_ready_replicas", **labels) == 2
    assert value("pasture_operator_modeldeployment_ready", **labels) == 1

    c.observe("ModelDeployment", "DELETED", md("gauges-a"))
    await c.reconcile_deployment("ns", "gauges-a")
    for name in ("desired_replicas", "ready_replicas", "ready"):
        assert value(f"pasture_operator_modeldeployment_{name}", **labels) is None


def phase(p: str) -> float | None:
    return value("pasture_operator_model_phase", namespace="ns", model="gauges-m", phase=p)


async def test_model_phase_is_one_hot_and_goes_with_the_model() -> None:
    c = controller()
    c.store.put("Model", model("gauges-m", spec={"source": {"huggingFace": {"repo": "org/x"}}}))
    await c.reconcile_model("ns", "gauges-m")
    phases = {p: phase(p) for p in ("Pending", "Downloading", "Ready", "Failed")}
    assert phases == {"Pending": 0, "Downloading": 0, "Ready": 1, "Failed": 0}

    c.store.put("Model", model("gauges-m", spec={"source": {"library": "no-such-model:1b"}}))
    await c.reconcile_model("ns", "gauges-m")
    assert (phase("Failed"), phase("Ready")) == (1, 0)

    c.observe("Model", "DELETED", model("gauges-m"))
    await c.reconcile_model("ns", "gauges-m")
    assert [phase(p) for p in ("Pending", "Downloading", "Ready", "Failed")] == [None] * 4

"""The typed spec views (spec/): the CRDs' defaults in one place, and what the plans
now decide for the controller: the Model's drifted children, its Events and the
status merge patches."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.constants import RUNTIME_PORT
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.status import Event
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.model import ModelSpec
from pasture_operator.spec.owner import Owner
from tests.operator.helpers import md, model

# (label, spec as written, attribute path, value the view holds)
DEPLOYMENT_DEFAULTS: list[tuple[str, dict[str, Any], str, Any]] = [
    ("replicas default", {}, "replicas", 1),
    ("explicit zero replicas", {"replicas": 0}, "replicas", 0),
    ("no image: the operator's default", {}, "image", None),
    ("drain timeout default", {}, "server.drain_timeout_seconds", 30),
    (
        "drain timeout explicit 0",
        {"server": {"drainTimeoutSeconds": 0}},
        "server.drain_timeout_seconds",
        0,
    ),
    ("startup timeout default", {}, "startup_timeout_seconds", 1800),
    (
        "startup timeout 0 is the default",
        {"startupTimeoutSeconds": 0},
        "startup_timeout_seconds",
        1800,
    ),
    ("GPU memory utilization default", {}, "engine.gpu_memory_utilization", 0.9),
    ("tensor parallel unset", {}, "engine.tensor_parallel_size", None),
    ("gpus unset: the profile decides", {}, "resources.gpus", None),
    ("gpus explicit 0 kept", {"resources": {"gpus": 0}}, "resources.gpus", 0),
    ("shm default", {}, "resources.shm_size", "2Gi"),
    ("one node per replica by default", {}, "resources.nodes_per_replica", 1),
    ("single node is no group", {}, "multi_node", False),
    ("one pipeline stage by default", {}, "engine.pipeline_parallel_size", 1),
    (
        "two nodes per replica",
        {"resources": {"nodesPerReplica": 2}, "engine": {"pipelineParallelSize": 2}},
        "multi_node",
        True,
    ),
    (
        "pipeline stages as written",
        {"engine": {"pipelineParallelSize": 2}},
        "engine.pipeline_parallel_size",
        2,
    ),
    ("service port default", {}, "service.port", RUNTIME_PORT),
    ("service type default", {}, "service.type", "ClusterIP"),
    ("no access: no NetworkPolicy", {}, "access", None),
    ("empty access: no NetworkPolicy", {"access": {}}, "access", None),
    (
        "metrics namespace default",
        {"access": {"namespaces": ["a"]}},
        "access.metrics_namespace",
        "monitoring",
    ),
    ("API key default key", {"apiKeySecretRef": {"name": "k"}}, "api_key_secret.key", "api-key"),
    (
        "model names: base then variants",
        {"modelRef": {"name": "b"}, "variants": ["v"]},
        "model_names",
        ("b", "v"),
    ),
]


def _attr(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(
    ("label", "spec", "path", "want"), DEPLOYMENT_DEFAULTS, ids=[d[0] for d in DEPLOYMENT_DEFAULTS]
)
def test_deployment_spec_defaults(label: str, spec: dict[str, Any], path: str, want: Any) -> None:
    assert _attr(DeploymentSpec.from_spec(spec), path) == want


MODEL_VIEWS: list[tuple[str, dict[str, Any], str, Any]] = [
    ("served name from the object's name", {}, "served_name", "tiny:latest"),
    ("served name keeps its tag", {"servedName": "org/x:7b"}, "served_name", "org/x:7b"),
    (
        "a registry port is no tag",
        {"servedName": "host:5000/x"},
        "served_name",
        "host:5000/x:latest",
    ),
    ("no cache", {}, "cache", None),
    ("cache access mode default", {"cache": {"size": "1Gi"}}, "cache.access_mode", "ReadWriteOnce"),
    ("cache claim", {}, "cache_claim", "tiny-cache"),
    ("source claim of a pvc source", {"source": {"pvc": {"claimName": "w"}}}, "source_claim", "w"),
    ("no source claim otherwise", {}, "source_claim", None),
    ("kind unset: the library entry's, else generation", {}, "kind", None),
]


@pytest.mark.parametrize(
    ("label", "spec", "path", "want"), MODEL_VIEWS, ids=[m[0] for m in MODEL_VIEWS]
)
def test_model_spec_views(label: str, spec: dict[str, Any], path: str, want: Any) -> None:
    assert _attr(ModelSpec.from_object(model("tiny", spec)), path) == want


def test_owner_of_an_object() -> None:
    o = Owner.from_object(md())
    assert (o.api_version, o.kind, o.name, o.namespace, o.uid, o.generation) == (
        "pasture.dev/v1alpha1",
        "ModelDeployment",
        "tiny",
        "ns",
        "uid-md-tiny",
        3,
    )


# --- what the Model plan now decides for the controller ------------------------

CACHED = {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}}


def _plan(body: dict[str, Any], obs: ModelObserved | None = None) -> Any:
    return plan_model(body, obs or ModelObserved(), downloader_image="dl", now="T")


def test_model_children_as_observed_are_not_applied_again() -> None:
    first = _plan(model("tiny", CACHED, phase=None))
    pvc = next(o for o in first.apply if o["kind"] == "PersistentVolumeClaim")
    bound = {**pvc, "status": {"phase": "Bound"}}
    again = _plan(model("tiny", CACHED, phase=None), ModelObserved(cache_pvc=bound))
    assert pvc in again.desired
    assert [o["kind"] for o in again.apply] == ["ServiceAccount", "Role", "RoleBinding", "Job"]
    resized = {**bound, "spec": {**pvc["spec"], "resources": {"requests": {"storage": "2Gi"}}}}
    drifted = _plan(model("tiny", CACHED, phase=None), ModelObserved(cache_pvc=resized))
    assert [o["kind"] for o in drifted.apply] == [
        "PersistentVolumeClaim",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Job",
    ]


def test_model_phase_change_is_an_event_and_a_patch_once() -> None:
    body = model("tiny", {"source": {"huggingFace": {"repo": "org/tiny"}}}, phase=None)
    first = _plan(body)
    assert first.events == [Event("Normal", "Resolved", "served from hf://org/tiny")]
    assert first.status_patch == first.status
    written = {**body, "status": first.status}
    again = _plan(written)
    assert again.events == []
    assert again.status_patch is None


def test_failed_model_event_is_a_warning() -> None:
    p = _plan(model("tiny", {"source": {"library": "mystery:9b"}}, phase="Ready"))
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "UnknownLibraryModel")]


# --- the ModelDeployment's status patch ---------------------------------------


def test_deployment_status_patch_carries_the_autoscaler_status() -> None:
    settings = ChildDefaults("img")
    obs = DeploymentObserved(
        models={"tiny": model()}, children={}, autoscaling={"reason": "Steady"}
    )
    p = plan_deployment(md(), obs, settings, "T")
    assert p.status["autoscaling"] == {"reason": "Steady"}
    assert p.status_patch == p.status
    written = {**md(), "status": p.status}
    disabled = plan_deployment(
        written, DeploymentObserved(models={"tiny": model()}, children={}), settings, "T"
    )
    assert disabled.status_patch == {"autoscaling": None}

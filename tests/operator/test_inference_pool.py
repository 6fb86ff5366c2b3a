"""InferencePool per ModelDeployment (issue 13, Gateway API Inference Extension):
the pure builder and plan, then the operator against the real apiserver with the
InferencePool CRD installed (tests/fixtures/inferencepool-crd.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pasture_operator.builders.inference_pool import endpoint_picker_name, inference_pool
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.spec.owner import Owner
from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, get_json, wait_for
from tests.operator.helpers import md, model
from tests.operator.test_kube_operator import HF_MODEL, apply, md_yaml

CRD = Path(__file__).resolve().parents[1] / "fixtures" / "inferencepool-crd.yaml"


def _plan(crd: bool, children: dict[tuple[str, str], Any] | None = None) -> Any:
    obs = DeploymentObserved(
        models={"tiny": model()}, children=children or {}, inferencepool_crd=crd
    )
    return plan_deployment(md(), obs, ChildDefaults("runtime:test"), "2026-01-01T00:00:00Z")


def test_pool_selects_the_runtime_pods_on_the_runtime_port() -> None:
    pool = inference_pool(Owner.from_object(md("tiny")))
    assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
    assert pool["metadata"]["name"] == "tiny"
    assert pool["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    assert pool["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "pasture-runtime",
        "pasture.dev/deployment": "tiny",
    }
    assert pool["spec"]["targetPorts"] == [{"number": 11434}]
    assert pool["spec"]["endpointPickerRef"]["name"] == "tiny-epp"
    assert pool["spec"]["endpointPickerRef"]["port"] == {"number": 9002}


def test_picker_name_is_a_service_name_for_dotted_deployments() -> None:
    name = endpoint_picker_name("qwen2.5")
    assert "." not in name
    assert name.startswith("qwen2-5-epp")


def test_plan_adds_a_pool_only_where_the_crd_exists_and_deletes_it_when_gone() -> None:
    assert "InferencePool" in [o["kind"] for o in _plan(True).desired]
    without = _plan(
        False, children={("InferencePool", "tiny"): inference_pool(Owner.from_object(md()))}
    )
    assert "InferencePool" not in [o["kind"] for o in without.desired]
    assert ("inference.networking.k8s.io/v1", "InferencePool", "tiny") in without.delete


@pytest.fixture
def inferencepool_crd(crds: KubeCluster) -> Iterator[KubeCluster]:
    """The CRD for this test only: other tests' clusters have none (as most clusters)."""
    crds.kubectl("apply", "-f", str(CRD))
    crds.kubectl(
        "wait", "--for=condition=Established", "crd/inferencepools.inference.networking.k8s.io",
        "--timeout=60s", timeout=70,
    )  # fmt: skip
    try:
        yield crds
    finally:
        crds.kubectl("delete", "-f", str(CRD), "--wait=true", check=False, timeout=120)


@pytest.mark.kube
def test_one_inference_pool_per_model_deployment(
    inferencepool_crd: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = inferencepool_crd
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml("tiny") + "---\n" + md_yaml("tiny-b"))

    def pools() -> list[dict[str, Any]] | None:
        found = (get_json(k, namespace, "inferencepools") or {}).get("items") or []
        return found if len(found) == 2 else None

    found = wait_for(pools, 90, "an InferencePool per ModelDeployment")
    by_name = {p["metadata"]["name"]: p for p in found}
    assert sorted(by_name) == ["tiny", "tiny-b"]
    for name, pool in by_name.items():
        assert pool["spec"]["selector"]["matchLabels"]["pasture.dev/deployment"] == name
        assert pool["metadata"]["ownerReferences"][0]["name"] == name
        # The pool selects exactly the Deployment's pods.
        dep = get_json(k, namespace, "deployment", name) or {}
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert pool["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # Drift is repaired like any child's.
    k.kubectl("delete", "-n", namespace, "inferencepool/tiny")
    wait_for(lambda: get_json(k, namespace, "inferencepool", "tiny"), 60, "the pool recreated")

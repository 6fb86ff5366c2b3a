"""A multi-node ModelDeployment against the real local control plane with the real
LeaderWorkerSet controller (tests/fixtures/lws.py); kwok plays the leader and
worker pods on its fake GPU node. The vLLM processes themselves are not run here
(no GPUs; docs/multinode.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import KubeCluster
from tests.fixtures.lws import LWS_CRD, LwsController
from tests.operator.conftest import OperatorProcess, condition, get_json, wait_for
from tests.operator.test_kube_operator import HF_MODEL, apply, wait_ready

pytestmark = pytest.mark.kube

GROUP = "tiny-group"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"


def _md(replicas: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "pasture.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "tiny"},
            "spec": {
                "modelRef": {"name": "tiny"},
                "replicas": replicas,
                "resources": {"gpus": 1, "nodesPerReplica": 2},
                "engine": {"pipelineParallelSize": 2},
            },
        }
    )


# The CRD's multi-node rules, against the real apiserver: (label, spec, message).
INVALID = [
    (
        "several nodes without pipeline stages",
        {"modelRef": {"name": "m"}, "resources": {"gpus": 8, "nodesPerReplica": 2}},
        "resources.nodesPerReplica above 1 needs engine.pipelineParallelSize set to the same",
    ),
    (
        "pipeline stages unequal to nodes",
        {
            "modelRef": {"name": "m"},
            "resources": {"gpus": 8, "nodesPerReplica": 2},
            "engine": {"pipelineParallelSize": 4},
        },
        "resources.nodesPerReplica above 1 needs engine.pipelineParallelSize set to the same",
    ),
    (
        "several nodes without GPUs",
        {
            "modelRef": {"name": "m"},
            "resources": {"nodesPerReplica": 2},
            "engine": {"pipelineParallelSize": 2},
        },
        "resources.nodesPerReplica above 1 needs GPUs",
    ),
    (
        "several nodes, tensor parallel below the node's GPUs",
        {
            "modelRef": {"name": "m"},
            "resources": {"gpus": 8, "nodesPerReplica": 2},
            "engine": {"pipelineParallelSize": 2, "tensorParallelSize": 4},
        },
        "engine.tensorParallelSize must equal resources.gpus",
    ),
    (
        "one node, stages times tensor parallel over its GPUs",
        {
            "modelRef": {"name": "m"},
            "resources": {"gpus": 4},
            "engine": {"pipelineParallelSize": 2, "tensorParallelSize": 4},
        },
        "engine.tensorParallelSize times engine.pipelineParallelSize cannot exceed",
    ),
]


def test_invalid_multinode_specs_are_refused(crds: KubeCluster, namespace: str) -> None:
    failures = []
    for label, spec, message in INVALID:
        body = {
            "apiVersion": "pasture.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "bad"},
            "spec": spec,
        }
        out = apply(crds, namespace, json.dumps(body), check=False)
        if out.returncode == 0 or message not in out.stderr:
            failures.append(f"{label}: rc={out.returncode} stderr={out.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_multinode_spec_is_accepted(crds: KubeCluster, namespace: str) -> None:
    """Two nodes of 8 GPUs, one pipeline stage each (TP unset or = the node's GPUs)."""
    for name, engine in (
        ("mn-a", {"pipelineParallelSize": 2}),
        ("mn-b", {"pipelineParallelSize": 2, "tensorParallelSize": 8}),
    ):
        body = {
            "apiVersion": "pasture.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {
                "modelRef": {"name": "m"},
                "resources": {"gpus": 8, "nodesPerReplica": 2},
                "engine": engine,
            },
        }
        out = apply(crds, namespace, json.dumps(body), check=False)
        assert out.returncode == 0, out.stderr


def _pods(k: KubeCluster, ns: str) -> list[dict[str, Any]]:
    found = get_json(k, ns, "pods", "-l", "pasture.dev/deployment=tiny")
    return [p for p in (found or {}).get("items", []) if not p["metadata"].get("deletionTimestamp")]


def _running(k: KubeCluster, ns: str, count: int) -> bool:
    pods = _pods(k, ns)
    return len(pods) == count and all(p["status"].get("phase") == "Running" for p in pods)


def _status(k: KubeCluster, ns: str) -> dict[str, Any]:
    return (get_json(k, ns, "modeldeployment", "tiny") or {}).get("status") or {}


def _lws_installed(k: KubeCluster) -> bool:
    return k.kubectl("get", f"crd/{LWS_CRD}", check=False).returncode == 0


def test_without_leaderworkerset_nothing_is_made_until_it_is_installed(
    kube_cluster: KubeCluster,
    namespace: str,
    operator: OperatorProcess,
    request: pytest.FixtureRequest,
) -> None:
    k, ns = kube_cluster, namespace
    if _lws_installed(k):
        pytest.skip("LeaderWorkerSet is already installed in this session's cluster")
    apply(k, ns, HF_MODEL + "---\n" + _md(1))

    def reason() -> str:
        return str(condition(get_json(k, ns, "modeldeployment", "tiny"), "Ready").get("reason"))

    assert wait_for(lambda: reason() == "MultiNodeUnavailable", 60, "MultiNodeUnavailable")
    md = get_json(k, ns, "modeldeployment", "tiny")
    assert "install LeaderWorkerSet" in condition(md, "Ready")["message"]
    for kind in ("configmap", "service", "deployment", "poddisruptionbudget"):
        found = get_json(k, ns, kind, "-l", "pasture.dev/deployment=tiny")
        assert found is not None, kind
        assert found["items"] == [], kind  # nothing half-made
    request.getfixturevalue("lws_controller")  # install LeaderWorkerSet now
    wait_ready(k, ns, timeout=240)  # noticed without an edit
    assert get_json(k, ns, "leaderworkerset", GROUP) is not None


def test_multinode_group_lifecycle(
    kube_cluster: KubeCluster,
    namespace: str,
    lws_controller: LwsController,
    operator: OperatorProcess,
) -> None:
    k, ns = kube_cluster, namespace
    apply(k, ns, HF_MODEL + "---\n" + _md(1))
    wait_ready(k, ns, timeout=120)

    lws = get_json(k, ns, "leaderworkerset", GROUP)
    assert lws is not None
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert get_json(k, ns, "deployment", "tiny") is None
    pods = {p["metadata"]["name"]: p for p in _pods(k, ns)}
    assert set(pods) == {f"{GROUP}-0", f"{GROUP}-0-1"}
    leader, worker = pods[f"{GROUP}-0"], pods[f"{GROUP}-0-1"]
    assert (
        leader["metadata"]["labels"][WORKER_INDEX],
        worker["metadata"]["labels"][WORKER_INDEX],
    ) == ("0", "1")
    assert {p["spec"]["nodeName"] for p in pods.values()} == {"kwok-gpu-0"}
    # LWS's webhook gave every container the group's addresses, first (so $(VAR) expands).
    worker_env = [e["name"] for e in worker["spec"]["containers"][0]["env"]]
    assert worker_env[:3] == ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]
    assert worker["spec"]["containers"][0]["command"] == ["vllm"]
    st = _status(k, ns)
    assert (st["replicas"], st["readyReplicas"], st["ready"]) == (1, 1, "1/1")
    assert st["selector"].endswith(f"{WORKER_INDEX}=0")
    svc = get_json(k, ns, "service", "tiny")
    assert svc is not None
    assert svc["spec"]["selector"][WORKER_INDEX] == "0"

    # Scaling through the scale subresource counts groups.
    k.kubectl("scale", "-n", ns, "modeldeployment/tiny", "--replicas=2")
    assert wait_for(lambda: _running(k, ns, 4), 120, "two groups of two pods")
    assert wait_for(lambda: _status(k, ns).get("ready") == "2/2", 120, "2/2 groups ready")

    # A worker's failure recreates its whole group (RecreateGroupOnPodRestart).
    leader_uid = next(p for p in _pods(k, ns) if p["metadata"]["name"] == f"{GROUP}-0")["metadata"][
        "uid"
    ]
    k.kubectl("delete", "-n", ns, "pod", f"{GROUP}-0-1", "--wait=false")

    def leader_replaced() -> bool:
        found = [p for p in _pods(k, ns) if p["metadata"]["name"] == f"{GROUP}-0"]
        return bool(found) and found[0]["metadata"]["uid"] != leader_uid

    assert wait_for(leader_replaced, 120, "group 0 recreated (new leader pod)")
    wait_ready(k, ns, timeout=120)

    # Deleting the ModelDeployment takes the LeaderWorkerSet and its pods with it.
    k.kubectl("delete", "-n", ns, "modeldeployment/tiny", "--wait=false")
    assert wait_for(lambda: get_json(k, ns, "leaderworkerset", GROUP) is None, 120, "LWS deleted")
    md = get_json(k, ns, "modeldeployment", "tiny")
    assert md is None or condition(md, "Ready") is not None

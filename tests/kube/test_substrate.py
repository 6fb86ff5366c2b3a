"""The local control plane is real: scheduler, controller manager and kwok nodes do their jobs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster

pytestmark = pytest.mark.kube


def wait_until(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what or check}: last={last!r}")


def get(cluster: KubeCluster, ns: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", ns, "-o", "json").stdout)


def pod(name: str, gpus: int | None = None) -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus is not None else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": resources}]},
    }


def apply(cluster: KubeCluster, ns: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def test_nodes_are_ready_and_one_has_gpus(kube_cluster: KubeCluster) -> None:
    nodes = json.loads(kube_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    assert set(by_name) == {"kwok-gpu-0", "kwok-cpu-0"}
    for n in nodes:
        ready = {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
        assert ready == "True"
    assert by_name["kwok-gpu-0"]["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert by_name["kwok-gpu-0"]["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert "nvidia.com/gpu" not in by_name["kwok-cpu-0"]["status"]["allocatable"]


def test_deployment_pods_are_scheduled_and_become_ready(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    kube_cluster.kubectl(
        "create", "deployment", "web", "--image=busybox", "--replicas=3", "-n", namespace
    )
    kube_cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    pods = get(kube_cluster, namespace, "pods", "-l", "app=web")["items"]
    assert len(pods) == 3
    for p in pods:
        assert p["spec"]["nodeName"] in {"kwok-gpu-0", "kwok-cpu-0"}
        assert p["status"]["phase"] == "Running"
        assert p["status"]["podIP"]


def test_controller_manager_garbage_collects_dependents(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    kube_cluster.kubectl("create", "deployment", "gc", "--image=busybox", "-n", namespace)
    kube_cluster.kubectl("rollout", "status", "deployment/gc", "-n", namespace, "--timeout=60s")
    assert get(kube_cluster, namespace, "replicasets", "-l", "app=gc")["items"]
    kube_cluster.kubectl("delete", "deployment", "gc", "-n", namespace, "--wait=false")
    wait_until(
        lambda: not get(kube_cluster, namespace, "replicasets,pods", "-l", "app=gc")["items"],
        what="ReplicaSet and pods collected",
    )

    owner = json.loads(
        kube_cluster.kubectl("create", "configmap", "owner", "-n", namespace, "-o", "json").stdout
    )
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
    }
    apply(kube_cluster, namespace, dependent)
    kube_cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_until(
        lambda: (
            kube_cluster.kubectl(
                "get", "configmap", "dependent", "-n", namespace, check=False
            ).returncode
            != 0
        ),
        what="dependent ConfigMap collected",
    )


def test_gpu_pods_land_only_on_the_gpu_node(kube_cluster: KubeCluster, namespace: str) -> None:
    for i in range(3):
        apply(kube_cluster, namespace, pod(f"gpu-{i}", gpus=1))
    for i in range(3):
        kube_cluster.kubectl(
            "wait", "--for=condition=Ready", f"pod/gpu-{i}", "-n", namespace, "--timeout=60s"
        )
        p = get(kube_cluster, namespace, "pod", f"gpu-{i}")
        assert p["spec"]["nodeName"] == "kwok-gpu-0"


def test_pod_asking_for_too_many_gpus_stays_pending(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    apply(kube_cluster, namespace, pod("greedy", gpus=9))

    def unschedulable() -> dict[str, Any] | None:
        p = get(kube_cluster, namespace, "pod", "greedy")
        for c in p["status"].get("conditions", []):
            if c["type"] == "PodScheduled" and c["status"] == "False":
                return dict(c)
        return None

    cond = wait_until(unschedulable, what="PodScheduled=False")
    assert cond["reason"] == "Unschedulable"
    assert "nvidia.com/gpu" in cond["message"]
    p = get(kube_cluster, namespace, "pod", "greedy")
    assert p["status"]["phase"] == "Pending"
    assert not p["spec"].get("nodeName")

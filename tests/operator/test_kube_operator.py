"""The operator against the real local control plane (kwok fakes GPU nodes and kubelets)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, condition, field, get_json, wait_for

pytestmark = pytest.mark.kube
ROOT = Path(__file__).resolve().parents[2]

HF_MODEL = """
apiVersion: pasture.dev/v1alpha1
kind: Model
metadata: {name: tiny}
spec:
  source: {huggingFace: {repo: org/tiny}}
"""


def md_yaml(name: str = "tiny", **spec: Any) -> str:
    body = {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"modelRef": {"name": "tiny"}, "replicas": 1, "resources": {"gpus": 1}, **spec},
    }
    return yaml.safe_dump(body)


def apply(cluster: KubeCluster, ns: str, text: str, check: bool = True) -> Any:
    return cluster.kubectl("apply", "-n", ns, "-f", "-", input=text, check=check)


def wait_ready(cluster: KubeCluster, ns: str, name: str = "tiny", timeout: int = 60) -> None:
    cluster.kubectl(
        "wait",
        "-n",
        ns,
        "--for=condition=Ready",
        f"modeldeployment/{name}",
        f"--timeout={timeout}s",
        timeout=timeout + 10,
    )


def deployment(cluster: KubeCluster, ns: str, name: str = "tiny") -> dict[str, Any] | None:
    return get_json(cluster, ns, "deployment", name)


def test_examples_reach_ready(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    pv = f"pasture-tiny-model-{namespace}"  # PVs are cluster-scoped: one per test
    text = "\n---\n".join(p.read_text() for p in sorted((ROOT / "examples").glob("*.yaml")))
    try:
        apply(kube_cluster, namespace, text.replace("pasture-tiny-model", pv))
        wait_ready(kube_cluster, namespace)
        md = get_json(kube_cluster, namespace, "modeldeployment", "tiny")
        assert md is not None
        st = md["status"]
        assert st["endpoint"] == f"http://tiny.{namespace}.svc.cluster.local:11434"
        assert (st["replicas"], st["readyReplicas"], st["observedGeneration"]) == (2, 2, 1)
        assert condition(md, "ModelReady")["status"] == "True"
        assert set(md["metadata"].get("annotations") or {}) <= {
            "kubectl.kubernetes.io/last-applied-configuration"
        }  # no kopf bookkeeping
        cm = get_json(kube_cluster, namespace, "configmap", "tiny-runtime")
        assert cm is not None
        cfg = yaml.safe_load(cm["data"]["runtime.yaml"])
        assert cfg["engine"]["model"] == "/models/tiny"
        assert cfg["models"][0]["name"] == "tiny:latest"
        dep = deployment(kube_cluster, namespace)
        assert dep is not None
        assert dep["spec"]["replicas"] == 2
        assert dep["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
        managed = json.loads(
            kube_cluster.kubectl(
                "get", "-n", namespace, "deployment", "tiny", "-o", "json", "--show-managed-fields"
            ).stdout
        )["metadata"]["managedFields"]
        assert {m["manager"] for m in managed if m["operation"] == "Apply"} == {"pasture-operator"}
        pod_spec = dep["spec"]["template"]["spec"]
        assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert any(
            v.get("persistentVolumeClaim", {}).get("claimName") == "tiny-model-weights"
            for v in pod_spec["volumes"]
        )
        svc = get_json(kube_cluster, namespace, "service", "tiny")
        assert svc is not None and svc["spec"]["ports"][0]["port"] == 11434
        assert get_json(kube_cluster, namespace, "pdb", "tiny") is not None
        pods = get_json(kube_cluster, namespace, "pods", "-l", "pasture.dev/deployment=tiny")
        assert pods is not None
        assert {p["spec"]["nodeName"] for p in pods["items"]} == {"kwok-gpu-0"}
        table = kube_cluster.kubectl("get", "-n", namespace, "models,modeldeployments").stdout
        assert re.search(r"tiny\s+tiny:latest\s+pvc://tiny-model-weights/tiny\s+Ready", table)
        assert re.search(rf"tiny\s+tiny\s+2/2\s+http://tiny\.{namespace}\.svc", table)
        events = kube_cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=tiny"
        ).stdout
        assert "Ready" in events and "Created" in events
    finally:
        kube_cluster.kubectl("delete", "pv", pv, "--wait=false", check=False)


def test_too_many_gpus_is_unschedulable(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(kube_cluster, namespace, HF_MODEL + "---\n" + md_yaml(resources={"gpus": 16}))

    def reason() -> str:
        md = get_json(kube_cluster, namespace, "modeldeployment", "tiny")
        c = condition(md, "Ready")
        return c.get("reason", "") if c.get("status") == "False" else ""

    assert wait_for(lambda: reason() == "Unschedulable", 60, "Unschedulable")
    md = get_json(kube_cluster, namespace, "modeldeployment", "tiny")
    assert "nvidia.com/gpu" in condition(md, "Ready")["message"]
    assert condition(md, "Degraded")["status"] == "True"


INVALID = [
    (
        "two sources",
        "Model",
        {"source": {"huggingFace": {"repo": "a/b"}, "library": "x"}},
        "exactly one of huggingFace, pvc, url, library",
    ),
    ("no source", "Model", {"system": "hi"}, "spec.source is required"),
    (
        "bad served name",
        "Model",
        {"servedName": "Bad Name!", "source": {"library": "x"}},
        "servedName must be an Ollama model name",
    ),
    (
        "url without cache",
        "Model",
        {"source": {"url": {"url": "https://x/m.tgz"}}},
        "a url source needs spec.cache",
    ),
    (
        "ftp url",
        "Model",
        {"source": {"url": {"url": "ftp://x/m"}}, "cache": {"size": "1Gi"}},
        "url must start with http:// or https://",
    ),
    (
        "bad cache size",
        "Model",
        {"source": {"library": "x"}, "cache": {"size": "lots"}},
        "cache.size must be a quantity",
    ),
    (
        "bad hf repo",
        "Model",
        {"source": {"huggingFace": {"repo": "no-slash"}}},
        "huggingFace.repo must look like 'org/name'",
    ),
    (
        "negative gpus",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "resources": {"gpus": -1}},
        "resources.gpus cannot be negative",
    ),
    (
        "min > max",
        "ModelDeployment",
        {
            "modelRef": {"name": "m"},
            "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2},
        },
        "minReplicas must be <= autoscaling.maxReplicas",
    ),
    (
        "target 0",
        "ModelDeployment",
        {
            "modelRef": {"name": "m"},
            "autoscaling": {"enabled": True, "maxReplicas": 2, "target": 0},
        },
        "autoscaling.target must be greater than 0",
    ),
    (
        "enabled without max",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "autoscaling": {"enabled": True}},
        "maxReplicas is required when autoscaling is enabled",
    ),
    (
        "kv cache target > 1",
        "ModelDeployment",
        {
            "modelRef": {"name": "m"},
            "autoscaling": {
                "enabled": True,
                "maxReplicas": 2,
                "metric": "kvCacheUsage",
                "target": 2,
            },
        },
        "kvCacheUsage target is a fraction of the KV cache",
    ),
    (
        "tp > gpus",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "resources": {"gpus": 2}, "engine": {"tensorParallelSize": 4}},
        "tensorParallelSize cannot exceed resources.gpus",
    ),
    (
        "bad service type",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "service": {"type": "Magic"}},
        'supported values: "ClusterIP", "NodePort", "LoadBalancer"',
    ),
    (
        "negative replicas",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "replicas": -1},
        "should be greater than or equal to 0",
    ),
    ("no modelRef", "ModelDeployment", {"replicas": 1}, "spec.modelRef: Required value"),
    (
        "bad GPU profile name",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "resources": {"profile": "A100_80GB"}},
        "resources.profile must be a GPU profile name",
    ),
    (
        "GPU profile name too long",
        "ModelDeployment",
        {"modelRef": {"name": "m"}, "resources": {"profile": "a" * 64}},
        "may not be more than 63 bytes",
    ),
]


def test_invalid_specs_are_refused(crds: KubeCluster, namespace: str) -> None:
    failures = []
    for label, kind, spec, message in INVALID:
        body = {
            "apiVersion": "pasture.dev/v1alpha1",
            "kind": kind,
            "metadata": {"name": "bad"},
            "spec": spec,
        }
        out = apply(crds, namespace, json.dumps(body), check=False)
        if out.returncode == 0 or message not in out.stderr:
            failures.append(f"{label}: rc={out.returncode} stderr={out.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_drift_rollout_and_noop(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml())
    wait_ready(k, namespace)
    dep = deployment(k, namespace)
    assert dep is not None
    generation = dep["metadata"]["generation"]

    # Drift: someone scales the Deployment, edits the config, deletes the Service.
    k.kubectl("scale", "-n", namespace, "deployment/tiny", "--replicas=4")
    k.kubectl(
        "patch",
        "-n",
        namespace,
        "configmap/tiny-runtime",
        "--type=merge",
        "-p",
        '{"data": {"runtime.yaml": "hacked"}}',
    )
    k.kubectl("delete", "-n", namespace, "service/tiny")
    wait_for(
        lambda: (deployment(k, namespace) or {}).get("spec", {}).get("replicas") == 1,
        30,
        "replicas restored",
    )
    wait_for(
        lambda: (
            "engine:"
            in (
                field(k, namespace, "configmap", "tiny-runtime", "data", "runtime.yaml", default="")
            )
        ),
        30,
        "config restored",
    )
    wait_for(lambda: get_json(k, namespace, "service", "tiny"), 30, "service recreated")
    dep = deployment(k, namespace)
    assert dep is not None
    generation = dep["metadata"]["generation"]  # the scale bumped it twice
    template = dep["spec"]["template"]

    # A change that does not touch the pods: no rollout.
    k.kubectl(
        "patch",
        "-n",
        namespace,
        "modeldeployment/tiny",
        "--type=merge",
        "-p",
        '{"spec": {"service": {"annotations": {"team": "ml"}}}}',
    )
    wait_for(
        lambda: field(k, namespace, "service", "tiny", "metadata", "annotations", "team") == "ml",
        30,
        "service annotation",
    )
    dep = deployment(k, namespace)
    assert dep is not None
    assert dep["metadata"]["generation"] == generation
    assert dep["spec"]["template"] == template

    # A change that does: the template (config hash) changes and new pods roll out.
    k.kubectl(
        "patch",
        "-n",
        namespace,
        "modeldeployment/tiny",
        "--type=merge",
        "-p",
        '{"spec": {"engine": {"maxNumSeqs": 8}}}',
    )
    wait_for(
        lambda: (
            (deployment(k, namespace) or {}).get("metadata", {}).get("generation") == generation + 1
        ),
        30,
        "rollout",
    )
    md = wait_for(
        lambda: (
            lambda b: (
                b
                if b
                and condition(b, "Ready").get("status") == "True"
                and b["status"].get("observedGeneration") == 3
                and condition(b, "Progressing").get("reason") == "Complete"
                else None
            )
        )(get_json(k, namespace, "modeldeployment", "tiny")),
        60,
        "rolled out and Ready",
    )
    assert md["status"]["updatedReplicas"] == 1


def test_scale_subresource_and_delete(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml())
    wait_ready(k, namespace)
    k.kubectl("scale", "-n", namespace, "modeldeployment/tiny", "--replicas=3")
    wait_for(
        lambda: (deployment(k, namespace) or {}).get("spec", {}).get("replicas") == 3,
        30,
        "Deployment follows kubectl scale",
    )
    wait_for(lambda: get_json(k, namespace, "pdb", "tiny"), 30, "PDB once replicas > 1")
    wait_for(
        lambda: field(k, namespace, "modeldeployment", "tiny", "status", "readyReplicas") == 3,
        60,
        "3 ready",
    )
    scale = json.loads(
        k.kubectl(
            "get",
            "--raw",
            f"/apis/pasture.dev/v1alpha1/namespaces/{namespace}/modeldeployments/tiny/scale",
        ).stdout
    )
    assert scale["status"]["replicas"] == 3
    assert "pasture.dev/deployment=tiny" in scale["status"]["selector"]

    k.kubectl("delete", "-n", namespace, "modeldeployment/tiny")
    for kind, name in [
        ("deployment", "tiny"),
        ("service", "tiny"),
        ("configmap", "tiny-runtime"),
        ("pdb", "tiny"),
    ]:
        wait_for(
            lambda kind=kind, name=name: get_json(k, namespace, kind, name) is None,
            60,
            f"{kind}/{name} garbage-collected",
        )


def test_restart_makes_no_rollout(
    kube_cluster: KubeCluster, namespace: str, start_operator: Callable[..., OperatorProcess]
) -> None:
    k = kube_cluster
    first = start_operator()
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml())
    wait_ready(k, namespace)
    before = deployment(k, namespace)
    md_before = get_json(k, namespace, "modeldeployment", "tiny")
    assert before is not None and md_before is not None
    first.stop()
    second = start_operator()
    wait_for(lambda: second.reconciles() >= 2, 30, "second operator reconciled")
    time.sleep(2)
    after = deployment(k, namespace)
    md_after = get_json(k, namespace, "modeldeployment", "tiny")
    assert after is not None and md_after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert md_after["status"]["conditions"] == md_before["status"]["conditions"]
    rs = get_json(k, namespace, "replicasets", "-l", "pasture.dev/deployment=tiny")
    assert rs is not None and len(rs["items"]) == 1
    deps = get_json(k, namespace, "deployments")
    assert deps is not None and len(deps["items"]) == 1


def test_cache_pvc_job_and_status(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    apply(
        k,
        namespace,
        """
apiVersion: pasture.dev/v1alpha1
kind: Model
metadata: {name: cached}
spec:
  source: {url: {url: "https://example.invalid/tiny.tar.gz"}}
  cache: {size: 1Gi, storageClassName: no-such-class}
---
"""
        + md_yaml(modelRef={"name": "cached"}),
    )

    def model_status() -> dict[str, Any]:
        return dict(field(k, namespace, "model", "cached", "status") or {})

    wait_for(
        lambda: (
            model_status().get("phase") == "Pending"
            and "no-such-class" in model_status().get("message", "")
        ),
        30,
        "PVCUnbound status naming the StorageClass",
    )
    pvc = get_json(k, namespace, "pvc", "cached-cache")
    assert pvc is not None and pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    jobs = get_json(k, namespace, "jobs", "-l", "pasture.dev/model=cached")
    assert jobs is not None and len(jobs["items"]) == 1
    job = jobs["items"][0]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["-m", "pasture_operator.downloader"] and "--url-env" in args
    md = wait_for(
        lambda: (
            lambda b: b if condition(b, "ModelReady").get("reason") == "ModelNotReady" else None
        )(get_json(k, namespace, "modeldeployment", "tiny")),
        30,
        "MD waits for the model",
    )
    dep = deployment(k, namespace)
    assert dep is not None and dep["spec"]["replicas"] == 0  # no pods before the cache is full
    assert condition(md, "Ready")["status"] == "False"


def test_two_replicas_with_peering_only_one_acts(
    kube_cluster: KubeCluster, namespace: str, start_operator: Callable[..., OperatorProcess]
) -> None:
    k = kube_cluster
    leader = start_operator("--priority", "200", peering=True)
    follower = start_operator("--priority", "100", peering=True)
    wait_for(
        lambda: (
            "Pausing" in follower.log.read_text() or "pausing" in follower.log.read_text().lower()
        ),
        30,
        "follower pauses",
    )
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml())
    wait_ready(k, namespace)
    assert leader.reconciles() > 0
    assert follower.reconciles() == 0


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
DEDICATED = {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}
GPU_PROFILES: dict[str, Any] = {
    "kwok-h100": {  # hack/cluster's GPU node is labelled as an H100
        "resourceName": "nvidia.com/gpu",
        "gpus": 2,
        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        "tolerations": [DEDICATED],
    }
}


def test_gpu_profiles_place_pods_and_unknown_profiles_wait(
    kube_cluster: KubeCluster,
    namespace: str,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    k = kube_cluster
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(yaml.safe_dump(GPU_PROFILES))
    env = {"PASTURE_GPU_PROFILES": str(profiles)}  # what the Helm chart sets
    first = start_operator(env=env)
    apply(
        k,
        namespace,
        "---\n".join(
            [
                HF_MODEL,
                md_yaml(
                    resources={"profile": "kwok-h100"}, nodeSelector={"kubernetes.io/os": "linux"}
                ),
                md_yaml("later", resources={"profile": "kwok-any-gpu"}),
            ]
        ),
    )

    # The known profile: its selector, tolerations and GPU count, merged with the spec.
    wait_ready(k, namespace)
    md = get_json(k, namespace, "modeldeployment", "tiny")
    assert md is not None and "gpus" not in md["spec"]["resources"]  # no schema default
    dep = deployment(k, namespace)
    assert dep is not None
    pod_spec = dep["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        "kubernetes.io/os": "linux",
    }
    assert pod_spec["tolerations"] == [DEDICATED, GPU_TOLERATION]
    limits = pod_spec["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "2"
    cm = get_json(k, namespace, "configmap", "tiny-runtime")
    assert cm is not None
    assert yaml.safe_load(cm["data"]["runtime.yaml"])["engine"]["tensor_parallel_size"] == 2
    pods = get_json(k, namespace, "pods", "-l", "pasture.dev/deployment=tiny")
    assert pods is not None and {p["spec"]["nodeName"] for p in pods["items"]} == {"kwok-gpu-0"}

    # The unknown profile: no children, Ready=False naming the known profiles, an Event.
    def later_reason() -> str:
        return str(
            condition(get_json(k, namespace, "modeldeployment", "later"), "Ready").get("reason")
        )

    wait_for(lambda: later_reason() == "UnknownGPUProfile", 30, "UnknownGPUProfile")
    later = get_json(k, namespace, "modeldeployment", "later")
    ready = condition(later, "Ready")
    assert ready["status"] == "False"
    assert ready["message"] == "GPU profile 'kwok-any-gpu' is not known; known profiles: kwok-h100"
    assert condition(later, "Degraded")["reason"] == "UnknownGPUProfile"
    assert deployment(k, namespace, "later") is None
    assert get_json(k, namespace, "configmap", "later-runtime") is None
    wait_for(
        lambda: (
            "UnknownGPUProfile"
            in k.kubectl(
                "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=later"
            ).stdout
        ),
        30,
        "UnknownGPUProfile Event",
    )

    # The shipped example passes the CRD's validation.
    example = ROOT / "examples" / "gpu-profiles" / "modeldeployment-a100.yaml"
    k.kubectl("apply", "-n", namespace, "--dry-run=server", "-f", str(example))

    # It recovers when the operator restarts with the profile.
    first.stop()
    profiles.write_text(
        yaml.safe_dump(
            {
                **GPU_PROFILES,
                "kwok-any-gpu": {
                    "resourceName": "nvidia.com/gpu",
                    "nodeSelector": {"nvidia.com/gpu.present": "true"},
                },
            }
        )
    )
    start_operator(env=env)
    wait_ready(k, namespace, "later")
    dep = deployment(k, namespace, "later")
    assert dep is not None
    pod_spec = dep["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod_spec["tolerations"] == [GPU_TOLERATION]
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"

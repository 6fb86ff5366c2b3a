"""The operator's children against the real apiserver: names it must fit, objects it
must not adopt, the cache's access mode and volume failures as root causes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, condition, get_json, wait_for

pytestmark = pytest.mark.kube


def apply(cluster: KubeCluster, ns: str, *bodies: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(bodies))


def model(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": spec,
    }


def md(name: str, model_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"modelRef": {"name": model_name}, "replicas": 1, **spec},
    }


def test_longest_and_dotted_names_make_valid_children(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    long_name = ("qwen2.5-" + "x" * 60)[:52]  # the longest Model name the CRD admits
    adapter = [{"name": "lora", "source": {"pvc": {"claimName": "adapters"}}}]
    apply(
        k,
        namespace,
        model(
            long_name,
            {
                "source": {"huggingFace": {"repo": "org/tiny"}},
                "cache": {"size": "1Gi", "storageClassName": "no-such-class"},
                "adapters": adapter,
            },
        ),
        md("qwen2.5", long_name),
    )
    jobs = wait_for(
        lambda: (get_json(k, namespace, "jobs", "-l", f"pasture.dev/model={long_name}") or {}).get(
            "items"
        ),
        60,
        "the download Job of a 52-character Model",
    )
    assert len(jobs[0]["metadata"]["name"]) <= 63
    dep = wait_for(
        lambda: get_json(k, namespace, "deployment", "qwen2.5"), 60, "the Deployment of qwen2.5"
    )
    volumes = [v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]]
    assert "model" in volumes
    assert any(v.startswith("adapter-") for v in volumes)
    services = get_json(k, namespace, "services", "-l", "pasture.dev/deployment=qwen2.5")
    assert services is not None
    assert len(services["items"]) == 1
    svc_name = services["items"][0]["metadata"]["name"]
    body = get_json(k, namespace, "modeldeployment", "qwen2.5")
    assert body is not None
    assert body["status"]["endpoint"].startswith(f"http://{svc_name}.{namespace}.svc")
    assert condition(body, "Degraded").get("reason") != "ChildConflict"


def _events(cluster: KubeCluster, ns: str, name: str) -> list[dict[str, Any]]:
    found = get_json(cluster, ns, "events", "--field-selector", f"involvedObject.name={name}")
    return list((found or {}).get("items") or [])


def test_same_named_user_objects_are_never_adopted(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    user_svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "tiny", "labels": {"owner": "user"}},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80}]},
    }
    user_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "tiny-runtime"},
        "data": {"mine": "yes"},
    }
    user_pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "cached-cache"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
    }
    apply(k, namespace, user_svc, user_cm, user_pvc)
    apply(
        k,
        namespace,
        model("tiny", {"source": {"huggingFace": {"repo": "org/tiny"}}}),
        model(
            "cached",
            {
                "source": {"url": {"url": "https://example.invalid/a.tar.gz"}},
                "cache": {"size": "1Gi"},
            },
        ),
        md("tiny", "tiny"),
    )

    def reason(kind: str, name: str, type_: str) -> str:
        return str(condition(get_json(k, namespace, kind, name), type_).get("reason") or "")

    wait_for(lambda: reason("modeldeployment", "tiny", "Degraded") == "ChildConflict", 60, "MD")
    body = get_json(k, namespace, "modeldeployment", "tiny")
    message = condition(body, "Degraded")["message"]
    assert "Service tiny" in message
    assert "ConfigMap tiny-runtime" in message
    assert condition(body, "Ready")["status"] == "False"
    wait_for(lambda: reason("model", "cached", "Ready") == "ChildConflict", 60, "Model conflict")
    assert (
        "PersistentVolumeClaim cached-cache"
        in condition(get_json(k, namespace, "model", "cached"), "Ready")["message"]
    )
    # Untouched: no ownerReference (the garbage collector's handle), no label, no field.
    for kind, name in (("service", "tiny"), ("configmap", "tiny-runtime"), ("pvc", "cached-cache")):
        obj = get_json(k, namespace, kind, name)
        assert obj is not None
        assert not obj["metadata"].get("ownerReferences"), (kind, obj["metadata"])
        assert "app.kubernetes.io/managed-by" not in (obj["metadata"].get("labels") or {})
    svc = get_json(k, namespace, "service", "tiny")
    assert svc is not None
    assert svc["spec"]["selector"] == {"app": "mine"}
    cm = get_json(k, namespace, "configmap", "tiny-runtime")
    assert cm is not None
    assert cm["data"] == {"mine": "yes"}
    assert get_json(k, namespace, "jobs", "-l", "pasture.dev/model=cached") == {
        "apiVersion": "v1",
        "items": [],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }  # no download into someone else's volume
    for name in ("tiny", "cached"):
        wait_for(
            lambda n=name: any(  # type: ignore[misc]
                e["reason"] == "ChildConflict" and e["type"] == "Warning"
                for e in _events(k, namespace, n)
            ),
            30,
            f"a ChildConflict Event on {name}",
        )
    # Once the user's objects are gone, the operator creates its own (re-checked, not watched).
    k.kubectl("delete", "-n", namespace, "service/tiny", "configmap/tiny-runtime")
    wait_for(lambda: reason("modeldeployment", "tiny", "Degraded") != "ChildConflict", 60, "heal")
    svc = get_json(k, namespace, "service", "tiny")
    assert svc is not None
    assert svc["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"


def test_cache_access_mode_is_a_validated_immutable_spec_field(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    cache = {"size": "1Gi", "storageClassName": "no-such-class", "accessMode": "ReadWriteMany"}
    spec = {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": cache}
    apply(k, namespace, model("shared", spec))
    pvc = wait_for(lambda: get_json(k, namespace, "pvc", "shared-cache"), 60, "the cache PVC")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    changed = k.kubectl(
        "patch", "-n", namespace, "model", "shared", "--type=merge",
        "-p", '{"spec": {"cache": {"accessMode": "ReadWriteOnce"}}}',
        check=False,
    )  # fmt: skip
    assert changed.returncode != 0
    assert "cache.accessMode is immutable" in changed.stderr
    bad = k.kubectl(
        "apply", "-n", namespace, "-f", "-", check=False,
        input=yaml.safe_dump(model("bad", {**spec, "cache": {**cache, "accessMode": "RWX"}})),
    )  # fmt: skip
    assert bad.returncode != 0
    assert "accessMode" in bad.stderr


def test_multi_attach_on_a_pod_is_the_root_cause(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    """kwok has no volumes: the test posts the Event the attach/detach controller
    posts for a Multi-Attach and puts the pod back into ContainerCreating (kwok
    leaves a pod alone once it has an IP)."""
    k = kube_cluster
    apply(
        k,
        namespace,
        model("tiny", {"source": {"huggingFace": {"repo": "org/tiny"}}}),
        md("tiny", "tiny", resources={"gpus": 1}),
    )

    def running_pod() -> str:
        pods = get_json(k, namespace, "pods", "-l", "pasture.dev/deployment=tiny") or {}
        for p in pods.get("items") or []:
            if (p.get("status") or {}).get("podIP"):
                return str(p["metadata"]["name"])
        return ""

    pod = wait_for(running_pod, 60, "a pod with an IP")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.multiattach"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": namespace},
        "type": "Warning",
        "reason": "FailedAttachVolume",
        "message": 'Multi-Attach error for volume "pvc-1" Volume is already used by pod(s) x',
        "source": {"component": "attachdetach-controller"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "count": 1,
    }
    apply(k, namespace, event)
    waiting = {
        "name": "runtime",
        "image": "pasture-runtime:test",
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    k.kubectl(
        "patch", "-n", namespace, "pod", pod, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"containerStatuses": [waiting]}}),
    )  # fmt: skip
    body = wait_for(
        lambda: (
            lambda b: b if condition(b, "Degraded").get("reason") == "VolumeMultiAttach" else None
        )(get_json(k, namespace, "modeldeployment", "tiny")),
        60,
        "Degraded=VolumeMultiAttach",
    )
    assert "ReadWriteMany" in condition(body, "Degraded")["message"]
    warnings = [e for e in _events(k, namespace, "tiny") if e["reason"] == "VolumeMultiAttach"]
    assert warnings
    assert warnings[0]["type"] == "Warning"

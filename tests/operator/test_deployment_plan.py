"""The pure plan for a ModelDeployment: children, status, events (table tests)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from tests.operator.helpers import md, model, pod

SETTINGS = ChildDefaults(default_image="runtime:test")


def plan(
    body: dict[str, Any],
    models: dict[str, Any] | None = None,
    children: dict[tuple[str, str], Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    monitoring: bool = False,
) -> Any:
    """`monitoring`: the optional CRDs (ServiceMonitor, InferencePool) are installed."""
    obs = DeploymentObserved(
        models=models if models is not None else {"tiny": model()},
        children=children or {},
        pods=pods or [],
        servicemonitor_crd=monitoring,
        inferencepool_crd=monitoring,
    )
    return plan_deployment(body, obs, SETTINGS, "2026-01-01T00:00:00Z")


def cond(p: Any, type_: str) -> dict[str, Any]:
    return next(c for c in p.status["conditions"] if c["type"] == type_)


def kinds(objs: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objs]


def test_children_and_deployment_fields() -> None:
    p = plan(md(replicas=2, resources={"gpus": 2, "cpu": 4, "memory": "16Gi"}))
    assert kinds(p.apply) == ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]
    dep = p.apply[1]
    assert dep["metadata"]["ownerReferences"][0] == {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "tiny",
        "uid": "uid-md-tiny",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod_spec = dep["spec"]["template"]["spec"]
    c = pod_spec["containers"][0]
    assert dep["spec"]["replicas"] == 2
    assert c["image"] == "runtime:test"
    assert c["command"] + c["args"] == [
        "pasture-runtime",
        "serve",
        "--config",
        "/etc/pasture/runtime.yaml",
    ]
    assert c["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
        "limits": {"memory": "16Gi", "nvidia.com/gpu": "2"},
    }
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 1800
    # The startup probe waits for the engine (/startupz); liveness stays cheap.
    assert c["startupProbe"]["httpGet"]["path"] == "/startupz"
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec[
        "tolerations"
    ]
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod_spec["volumes"])
    assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    assert pod_spec["terminationGracePeriodSeconds"] > 30


def test_runtime_config_matches_contract() -> None:
    variant = model(
        "pirate",
        {
            "source": {"huggingFace": {"repo": "org/tiny"}},
            "system": "Arr",
            "parameters": {"temperature": 0.9},
        },
    )
    p = plan(
        md(
            variants=["pirate"],
            resources={"gpus": 2},
            engine={"maxModelLen": 4096, "extraArgs": {"swap_space": 1}},
        ),
        models={"tiny": model(), "pirate": variant},
    )
    cfg = yaml.safe_load(p.apply[0]["data"]["runtime.yaml"])
    assert cfg["engine"]["model"] == "org/tiny"
    assert cfg["engine"]["tensor_parallel_size"] == 2
    assert cfg["engine"]["max_model_len"] == 4096
    assert cfg["engine"]["extra_args"] == {"swap_space": 1}
    assert [m["name"] for m in cfg["models"]] == ["tiny:latest", "pirate:latest"]
    assert cfg["models"][1]["system"] == "Arr"
    assert cfg["server"]["port"] == 11434
    runtime_config = pytest.importorskip("pasture_runtime.config")
    runtime_config.RuntimeConfig.model_validate(cfg)  # the runtime accepts it as is


def test_pod_changes_roll_and_others_do_not() -> None:
    base = plan(md())
    template = base.apply[1]["spec"]["template"]
    # Replicas and service annotations do not touch the pod template.
    other = plan(md(replicas=3, service={"annotations": {"a": "b"}}))
    assert other.apply[1]["spec"]["template"] == template
    # An engine setting changes the config, hence the config-hash annotation.
    changed = plan(md(engine={"maxNumSeqs": 8}))
    assert changed.apply[1]["spec"]["template"] != template


def test_nothing_applied_when_children_match() -> None:
    first = plan(md())
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.apply}
    again = plan(md(), children=children)
    assert again.apply == []
    assert again.delete == []


def test_optional_children() -> None:
    p = plan(md(access={"namespaces": ["apps"]}), monitoring=True)
    assert kinds(p.apply) == [
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "NetworkPolicy",
        "InferencePool",
    ]
    stale = {("PodDisruptionBudget", "tiny"): {"metadata": {"name": "tiny"}}}
    assert plan(md(replicas=1), children=stale).delete == [
        ("policy/v1", "PodDisruptionBudget", "tiny")
    ]


def _observed_dep(desired: dict[str, Any], ready: int, replicas: int = 1) -> dict[str, Any]:
    return {
        **desired,
        "metadata": {**desired["metadata"], "generation": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": replicas,
        },
    }


UNSCHEDULABLE = pod(
    "p1",
    conditions=[
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
        }
    ],
)
CRASHING = pod(
    "p1",
    containerStatuses=[
        {
            "name": "runtime",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": "CUDA out of memory"}},
        }
    ],
)
OOM = pod(
    "p1",
    containerStatuses=[
        {
            "name": "runtime",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
        }
    ],
)
OOM_SAID = pod(
    "p1",
    containerStatuses=[
        {
            "name": "runtime",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {
                "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled",
                    "message": "loading weights: shard 3 of 4\n",
                }
            },
        }
    ],
)
PULL = pod(
    "p1",
    containerStatuses=[
        {
            "name": "runtime",
            "image": "nope:1",
            "state": {
                "waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling nope:1"}
            },
        }
    ],
)


@pytest.mark.parametrize(
    ("pods", "reason", "fragment"),
    [
        ([UNSCHEDULABLE], "Unschedulable", "nvidia.com/gpu"),
        ([CRASHING], "CrashLoopBackOff", "CUDA out of memory"),
        ([OOM], "OOMKilled", "OOMKilled"),
        (
            [OOM_SAID],
            "OOMKilled",
            "OOMKilled: raise resources.memory or lower "
            "engine.maxModelLen: loading weights: shard 3 of 4",
        ),
        ([PULL], "ImagePullBackOff", "nope:1"),
        ([pod("p1")], "Starting", "0/1"),
    ],
)
def test_not_ready_reasons(pods: list[dict[str, Any]], reason: str, fragment: str) -> None:
    first = plan(md())
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.apply}
    children[("Deployment", "tiny")] = _observed_dep(children[("Deployment", "tiny")], 0)
    p = plan(md(), children=children, pods=pods)
    ready = cond(p, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert fragment in ready["message"]
    if reason != "Starting":
        assert cond(p, "Degraded")["status"] == "True"
        assert any(e.type == "Warning" and e.reason == reason for e in p.events)


def test_ready_status_fields_and_event() -> None:
    first = plan(md())
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.apply}
    children[("Deployment", "tiny")] = _observed_dep(children[("Deployment", "tiny")], 1)
    p = plan(md(), children=children)
    assert cond(p, "Ready")["status"] == "True"
    assert p.status["endpoint"] == "http://tiny.ns.svc.cluster.local:11434"
    assert (
        p.status["selector"] == "app.kubernetes.io/name=pasture-runtime,pasture.dev/deployment=tiny"
    )
    assert (p.status["replicas"], p.status["readyReplicas"], p.status["ready"]) == (1, 1, "1/1")
    assert p.status["observedGeneration"] == 3
    assert [e.reason for e in p.events] == ["Ready"]
    # Same observation again: same conditions, no event.
    body = md()
    body["status"] = p.status
    again = plan(body, children=children)
    assert again.status == p.status
    assert again.events == []


@pytest.mark.parametrize(
    ("models", "reason"),
    [
        ({}, "ModelNotFound"),
        ({"tiny": model(phase="Pending")}, "ModelNotReady"),
        ({"tiny": model(spec={"source": {"library": "nope:1b"}})}, "ModelFailed"),
    ],
)
def test_model_problems(models: dict[str, Any], reason: str) -> None:
    p = plan(md(), models=models)
    assert cond(p, "ModelReady")["reason"] == reason
    assert cond(p, "Ready")["status"] == "False"
    if reason == "ModelNotReady":  # children exist but no pod starts before the model is Ready
        assert p.apply[1]["spec"]["replicas"] == 0


def test_variant_with_other_weights_is_invalid() -> None:
    other = model("other", {"source": {"huggingFace": {"repo": "org/other"}}})
    p = plan(md(variants=["other"]), models={"tiny": model(), "other": other})
    assert cond(p, "Ready")["reason"] == "InvalidSpec"
    assert p.apply == []


def test_readiness_does_not_flap_under_load() -> None:
    """/readyz asks the engine for its health with a 5 s budget and answers
    from an event loop busy with streams: the probe waits longer than that
    budget (Kubernetes' default is 1 s) and one slow answer is not unready."""
    probe = plan(md()).apply[1]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe.get("timeoutSeconds", 1) > 5
    assert probe.get("failureThreshold", 3) >= 3


def test_a_served_name_shared_with_another_deployment_is_degraded_with_an_event() -> None:
    from pasture_operator.reconcile.name_conflicts import NameConflict

    clash = NameConflict("tiny:latest", ("other",))
    obs = DeploymentObserved(models={"tiny": model()}, children={}, name_conflicts=[clash])
    p = plan_deployment(md(), obs, SETTINGS, "2026-01-01T00:00:00Z")
    degraded = cond(p, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "NameConflict")
    assert "ModelDeployment 'other'" in degraded["message"]
    assert [(e.type, e.reason) for e in p.events if e.reason == "NameConflict"] == [
        ("Warning", "NameConflict")
    ]
    assert cond(p, "Ready")["reason"] != "NameConflict"  # its pods serve on; the gateway refuses

"""The pure plan for a multi-node ModelDeployment: a LeaderWorkerSet instead of a
Deployment, leaders behind the Service, status from the groups, MultiNodeUnavailable
without the CRD (nothing made), and switching between one node and several."""

from __future__ import annotations

from typing import Any

import yaml

from pasture_operator.autoscale.scrape import targets
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from tests.operator.helpers import md, model, pod

SETTINGS = ChildDefaults(default_image="runtime:test")
LEADER = {"leaderworkerset.sigs.k8s.io/worker-index": "0"}
MULTI: dict[str, Any] = {
    "resources": {"gpus": 8, "nodesPerReplica": 2},
    "engine": {"pipelineParallelSize": 2},
}


def plan(
    body: dict[str, Any],
    children: dict[tuple[str, str], Any] | None = None,
    *,
    lws: bool = True,
    monitoring: bool = False,
    pods: list[dict[str, Any]] | None = None,
) -> Any:
    obs = DeploymentObserved(
        models={"tiny": model()},
        children=children or {},
        pods=pods or [],
        leaderworkerset_crd=lws,
        servicemonitor_crd=monitoring,
        inferencepool_crd=monitoring,
    )
    return plan_deployment(body, obs, SETTINGS, "2026-01-01T00:00:00Z")


def cond(p: Any, type_: str) -> dict[str, Any]:
    return next(c for c in p.status["conditions"] if c["type"] == type_)


def by_kind(p: Any) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in p.desired}


def test_multi_node_gets_a_leader_worker_set_not_a_deployment() -> None:
    p = plan(md(replicas=2, **MULTI), monitoring=True)
    assert [o["kind"] for o in p.apply] == [
        "ConfigMap",
        "LeaderWorkerSet",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "InferencePool",
    ]
    objs = by_kind(p)
    lws = objs["LeaderWorkerSet"]
    assert lws["metadata"]["name"] == "tiny-group"
    assert lws["spec"]["replicas"] == 2  # groups
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    # The API is served by leaders only.
    assert objs["Service"]["spec"]["selector"].items() >= LEADER.items()
    assert objs["InferencePool"]["spec"]["selector"]["matchLabels"].items() >= LEADER.items()
    assert p.status["selector"].endswith(",leaderworkerset.sigs.k8s.io/worker-index=0")
    assert p.events[0].message == "created LeaderWorkerSet tiny-group with 2 replica(s)"


def test_runtime_config_carries_the_multi_node_launch() -> None:
    p = plan(md(**MULTI))
    engine = yaml.safe_load(by_kind(p)["ConfigMap"]["data"]["runtime.yaml"])["engine"]
    assert engine["tensor_parallel_size"] == 8
    assert engine["extra_args"] == {
        "pipeline_parallel_size": 2,
        "nnodes": 2,
        "master_port": 29501,
        "distributed_executor_backend": "mp",
    }


def test_single_node_is_unchanged() -> None:
    p = plan(md(replicas=2))
    objs = by_kind(p)
    assert "LeaderWorkerSet" not in objs
    assert "Deployment" in objs
    assert "leaderworkerset.sigs.k8s.io/worker-index" not in objs["Service"]["spec"]["selector"]
    assert (
        p.status["selector"] == "app.kubernetes.io/name=pasture-runtime,pasture.dev/deployment=tiny"
    )


def test_without_the_crd_nothing_is_made_and_the_condition_says_why() -> None:
    p = plan(md(**MULTI), lws=False)
    assert p.apply == []
    assert p.delete == []
    assert p.desired == []
    ready = cond(p, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "MultiNodeUnavailable")
    assert "install LeaderWorkerSet" in ready["message"]
    assert "leaderworkersets.leaderworkerset.x-k8s.io" in ready["message"]
    assert cond(p, "Degraded")["reason"] == "MultiNodeUnavailable"
    assert any(e.reason == "MultiNodeUnavailable" and e.type == "Warning" for e in p.events)


def test_single_node_never_needs_the_crd() -> None:
    assert [o["kind"] for o in plan(md(), lws=False).apply][:2] == ["ConfigMap", "Deployment"]


def _observed(desired: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**desired, "status": status}


def test_status_counts_ready_groups() -> None:
    first = plan(md(replicas=2, **MULTI))
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.desired}
    key = ("LeaderWorkerSet", "tiny-group")
    children[key] = _observed(
        children[key], {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2}
    )
    p = plan(md(replicas=2, **MULTI), children)
    assert p.apply == []
    assert (p.status["readyReplicas"], p.status["ready"]) == (1, "1/2")
    assert cond(p, "Ready")["reason"] == "Starting"
    children[key] = _observed(
        children[key], {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}
    )
    p = plan(md(replicas=2, **MULTI), children)
    assert cond(p, "Ready")["status"] == "True"
    assert p.status["ready"] == "2/2"
    assert cond(p, "Progressing")["reason"] == "Complete"


def test_an_update_in_progress_is_not_complete() -> None:
    first = plan(md(**MULTI))
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.desired}
    key = ("LeaderWorkerSet", "tiny-group")
    updating = [{"type": "UpdateInProgress", "status": "True"}]
    children[key] = _observed(
        children[key],
        {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "conditions": updating},
    )
    p = plan(md(**MULTI), children)
    assert cond(p, "Ready")["status"] == "False"
    assert cond(p, "Progressing")["reason"] == "RollingOut"


def test_scaling_counts_groups() -> None:
    first = plan(md(replicas=1, **MULTI))
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.desired}
    p = plan(md(replicas=3, **MULTI), children)
    assert [o["kind"] for o in p.apply] == ["LeaderWorkerSet", "PodDisruptionBudget"]
    assert p.apply[0]["spec"]["replicas"] == 3
    assert p.events[0].message == "scaled LeaderWorkerSet tiny-group from 1 to 3"


def test_growing_past_one_node_replaces_the_deployment() -> None:
    single = plan(md())
    children = {(o["kind"], o["metadata"]["name"]): o for o in single.desired}
    p = plan(md(**MULTI), children)
    assert ("apps/v1", "Deployment", "tiny") in p.delete
    assert "LeaderWorkerSet" in [o["kind"] for o in p.apply]


def test_shrinking_to_one_node_deletes_the_leader_worker_set() -> None:
    multi = plan(md(**MULTI))
    children = {(o["kind"], o["metadata"]["name"]): o for o in multi.desired}
    p = plan(md(), children)
    assert ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "tiny-group") in p.delete
    assert "Deployment" in [o["kind"] for o in p.apply]


def test_a_worker_that_cannot_be_placed_is_the_root_cause() -> None:
    stuck = pod(
        "tiny-group-0-1",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ],
    )
    p = plan(md(**MULTI), pods=[stuck])
    ready = cond(p, "Ready")
    assert ready["reason"] == "Unschedulable"
    assert "tiny-group-0-1" in ready["message"]
    assert "nvidia.com/gpu" in ready["message"]


def test_holding_keeps_the_served_group_templates() -> None:
    first = plan(md(**MULTI))
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.desired}
    served = children[("LeaderWorkerSet", "tiny-group")]["spec"]["leaderWorkerTemplate"]
    obs = DeploymentObserved(
        models={"tiny": model(phase="Downloading")},
        children=children,
        leaderworkerset_crd=True,
    )
    edited = md(**{**MULTI, "engine": {"pipelineParallelSize": 2, "maxNumSeqs": 4}})
    p = plan_deployment(edited, obs, SETTINGS, "2026-01-01T00:00:00Z")
    lws = next(o for o in p.desired if o["kind"] == "LeaderWorkerSet")
    assert lws["spec"]["leaderWorkerTemplate"] == served
    assert lws["spec"]["replicas"] == 1


def test_network_policy_lets_a_group_talk_to_itself() -> None:
    policy = by_kind(plan(md(access={"namespaces": ["apps"]}, **MULTI)))["NetworkPolicy"]
    api, group = policy["spec"]["ingress"]
    assert api["ports"] == [{"port": 11434, "protocol": "TCP"}]
    assert "ports" not in group  # every port: the rendezvous and NCCL's own
    assert group["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "pasture-runtime",
                    "pasture.dev/deployment": "tiny",
                }
            }
        }
    ]
    single = by_kind(plan(md(access={"namespaces": ["apps"]})))["NetworkPolicy"]
    assert len(single["spec"]["ingress"]) == 1


def test_the_autoscaler_scrapes_leaders_only() -> None:
    ready = {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
    }

    def group_pod(name: str, index: str | None) -> dict[str, Any]:
        labels = {} if index is None else {"leaderworkerset.sigs.k8s.io/worker-index": index}
        return {"metadata": {"name": name, "labels": labels}, "status": ready}

    found, missing = targets(
        [group_pod("g-0", "0"), group_pod("g-0-1", "1"), group_pod("single", None)]
    )
    assert [t.name for t in found] == ["g-0", "single"]
    assert missing == []

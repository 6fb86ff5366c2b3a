"""The multi-node builders (pure): the LeaderWorkerSet, the leader's and workers'
commands and environment (ranks, addresses, ports), the engine arguments they share."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pasture_operator.builders import configmap as cm
from pasture_operator.builders.deployment import PodInputs, runtime_pod_template
from pasture_operator.builders.group_launch import (
    MASTER_PORT,
    group_engine_args,
    leader_env,
    worker_args,
)
from pasture_operator.builders.leaderworkerset import (
    EXCLUSIVE_TOPOLOGY_ANNOTATION,
    leader_worker_set,
)
from pasture_operator.builders.names import GROUP_SET_NAME_MAX, group_set_name
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.owner import Owner
from pasture_operator.spec.placement import Placement
from pasture_operator.spec.resolved import ResolvedModel, Volume

OWNER = Owner("pasture.dev/v1alpha1", "ModelDeployment", "big", "ns", "uid-big", 1)
TWO_NODES: dict[str, Any] = {
    "modelRef": {"name": "big"},
    "resources": {"gpus": 8, "nodesPerReplica": 2},
    "engine": {"pipelineParallelSize": 2},
}
INPUTS = PodInputs(
    "runtime:test", "hash1", [Volume("weights", "big-cache", "/models")], Placement(8)
)
ENGINE = {
    "model": "/models",
    "runner": "generate",
    "dtype": "auto",
    "gpu_memory_utilization": 0.9,
    "tensor_parallel_size": 8,
    "enforce_eager": False,
    "enable_lora": False,
    "extra_args": {"pipeline_parallel_size": 2, "nnodes": 2, "master_port": MASTER_PORT},
}


def _spec(**over: Any) -> DeploymentSpec:
    return DeploymentSpec.from_spec({**TWO_NODES, **over})


# (label, spec, engine args every pod shares)
SHARED_ARGS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("single node, one stage: nothing (config and hash unchanged)", {}, {}),
    (
        "single node, two stages",
        {"engine": {"pipelineParallelSize": 2}},
        {"pipeline_parallel_size": 2},
    ),
    (
        "two nodes",
        TWO_NODES,
        {
            "pipeline_parallel_size": 2,
            "nnodes": 2,
            "master_port": MASTER_PORT,
            "distributed_executor_backend": "mp",
        },
    ),
]


@pytest.mark.parametrize(("label", "spec", "want"), SHARED_ARGS, ids=[s[0] for s in SHARED_ARGS])
def test_group_engine_args(label: str, spec: dict[str, Any], want: dict[str, Any]) -> None:
    assert group_engine_args(DeploymentSpec.from_spec(spec)) == want


def test_leader_is_rank_zero_at_its_stable_address() -> None:
    env = {e["name"]: e for e in leader_env()}
    assert json.loads(env["PASTURE_ENGINE__EXTRA_ARGS"]["value"]) == {
        "master_addr": "$(LWS_LEADER_ADDRESS)",
        "node_rank": 0,
    }
    assert env["VLLM_HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


# (label, engine section, expected fragment of the worker's args)
WORKER_ARGS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "headless at this pod's rank, joining the leader",
        ENGINE,
        [
            "serve",
            "/models",
            "--headless",
            "--node-rank",
            "$(LWS_WORKER_INDEX)",
            "--master-addr",
            "$(LWS_LEADER_ADDRESS)",
        ],
    ),
    ("same tensor parallelism", ENGINE, ["--tensor-parallel-size", "8"]),
    ("same pipeline stages", ENGINE, ["--pipeline-parallel-size", "2"]),
    ("same node count", ENGINE, ["--nnodes", "2"]),
    ("same rendezvous port", ENGINE, ["--master-port", str(MASTER_PORT)]),
    ("same seed as the runtime's engine", ENGINE, ["--seed", "0"]),
    ("a true switch is a bare flag", {**ENGINE, "enforce_eager": True}, ["--enforce-eager"]),
    (
        "LoRA with the runtime's rank",
        {**ENGINE, "enable_lora": True},
        ["--enable-lora", "--max-lora-rank", "16"],
    ),
    (
        "a mapping extra arg as JSON",
        {**ENGINE, "extra_args": {"hf_overrides": {"a": 1}}},
        ["--hf-overrides", '{"a": 1}'],
    ),
    ("max_model_len when set", {**ENGINE, "max_model_len": 4096}, ["--max-model-len", "4096"]),
]


def _contains(args: list[str], part: list[str]) -> bool:
    return any(args[i : i + len(part)] == part for i in range(len(args)))


@pytest.mark.parametrize(("label", "engine", "part"), WORKER_ARGS, ids=[w[0] for w in WORKER_ARGS])
def test_worker_args(label: str, engine: dict[str, Any], part: list[str]) -> None:
    assert _contains(worker_args(engine), part), worker_args(engine)


def test_worker_args_leave_out_false_switches_and_rank_zero_settings() -> None:
    args = worker_args({**ENGINE, "extra_args": {"master_addr": "x", "node_rank": 0}})
    assert "--enforce-eager" not in args
    assert "--enable-lora" not in args
    assert args.count("--master-addr") == 1
    assert args.count("--node-rank") == 1


def test_leader_worker_set() -> None:
    spec = _spec()
    lws = leader_worker_set(OWNER, spec, INPUTS, replicas=3, engine=ENGINE)
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert lws["metadata"]["name"] == "big-group"
    assert lws["metadata"]["ownerReferences"][0]["uid"] == "uid-big"
    assert "annotations" not in lws["metadata"]
    tpl = lws["spec"]["leaderWorkerTemplate"]
    assert lws["spec"]["replicas"] == 3
    assert tpl["size"] == 2
    assert tpl["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert lws["spec"]["startupPolicy"] == "LeaderCreated"


def test_leader_is_the_runtime_pod_with_rank_zero() -> None:
    spec = _spec()
    lws = leader_worker_set(OWNER, spec, INPUTS, replicas=1, engine=ENGINE)
    leader = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    single = runtime_pod_template(OWNER, spec, INPUTS)
    assert leader["metadata"] == single["metadata"]
    c, base = leader["spec"]["containers"][0], single["spec"]["containers"][0]
    assert c["command"] + c["args"] == base["command"] + base["args"]
    assert c["env"] == [*leader_env(), *base["env"]]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {
        "http": 11434,
        "dist": MASTER_PORT,
    }
    assert c["readinessProbe"] == base["readinessProbe"]
    assert {k: v for k, v in leader["spec"].items() if k != "containers"} == {
        k: v for k, v in single["spec"].items() if k != "containers"
    }


def test_worker_shares_the_pod_but_not_the_api_server() -> None:
    spec = _spec()
    lws = leader_worker_set(OWNER, spec, INPUTS, replicas=1, engine=ENGINE)
    tpl = lws["spec"]["leaderWorkerTemplate"]
    leader, worker = tpl["leaderTemplate"], tpl["workerTemplate"]
    w, lc = worker["spec"]["containers"][0], leader["spec"]["containers"][0]
    assert w["command"] == ["vllm"]
    assert w["args"] == worker_args(ENGINE)
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe", "lifecycle"):
        assert key not in w
    # Same GPUs, volumes, mounts, image and security as the leader.
    for key in ("resources", "volumeMounts", "image", "securityContext"):
        assert w[key] == lc[key]
    assert worker["spec"]["volumes"] == leader["spec"]["volumes"]
    assert w["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert w["env"][0]["name"] == "VLLM_HOST_IP"
    assert not any(k.startswith("prometheus.io/") for k in worker["metadata"]["annotations"])
    assert worker["metadata"]["labels"] == leader["metadata"]["labels"]


def test_exclusive_topology_annotation() -> None:
    spec = _spec(resources={**TWO_NODES["resources"], "exclusiveTopology": "example.com/rack"})
    lws = leader_worker_set(OWNER, spec, INPUTS, replicas=1, engine=ENGINE)
    assert lws["metadata"]["annotations"] == {EXCLUSIVE_TOPOLOGY_ANNOTATION: "example.com/rack"}


@pytest.mark.parametrize("name", ["big", "qwen2.5", "a" * 50, "9lives"])
def test_group_set_name_fits_lws_pod_names(name: str) -> None:
    got = group_set_name(name)
    assert len(got) <= GROUP_SET_NAME_MAX
    assert got[0].isalpha()
    assert "." not in got


# (label, spec, tensor_parallel_size in runtime.yaml for 8 GPUs per pod)
TP_DEFAULTS: list[tuple[str, dict[str, Any], int]] = [
    ("one stage: every GPU", {}, 8),
    ("two stages on one pod share its GPUs", {"engine": {"pipelineParallelSize": 2}}, 4),
    ("two nodes, one stage each: every GPU of a node", TWO_NODES, 8),
    ("explicit wins", {"engine": {"tensorParallelSize": 2}}, 2),
]


@pytest.mark.parametrize(("label", "spec", "want"), TP_DEFAULTS, ids=[t[0] for t in TP_DEFAULTS])
def test_tensor_parallel_default(label: str, spec: dict[str, Any], want: int) -> None:
    base = ResolvedModel(
        "big", "big:latest", {}, "", "/models", None, None, "generation", {}, {"name": "big:latest"}
    )
    config = cm.runtime_config(DeploymentSpec.from_spec(spec), base, [], gpus=8)
    assert config["engine"]["tensor_parallel_size"] == want

"""vLLM's multi-node launch inside a LeaderWorkerSet group: the engine arguments
every pod shares, the leader's rank-0 settings and a worker's `vllm serve --headless`
command line. Pure; builders/leaderworkerset.py puts them into the pod templates
and builders/configmap.py the shared arguments into runtime.yaml.

vLLM 0.32's own multi-node multiprocessing launch (`--nnodes`, `--node-rank`,
`--master-addr`, `--master-port`; workers `--headless`) is used, not a Ray
cluster inside the group: see builders/leaderworkerset.py and docs/multinode.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pasture_operator.spec.deployment import DeploymentSpec

# LWS injects these into every container, first, so $(VAR) references in our env
# and args expand: the leader's stable DNS name and this pod's index in its group.
LEADER_ADDRESS = "$(LWS_LEADER_ADDRESS)"
WORKER_INDEX = "$(LWS_WORKER_INDEX)"
# torch.distributed's rendezvous on the leader (vLLM's default master_port).
MASTER_PORT = 29501
MASTER_PORT_NAME = "dist"
# The engine arguments a headless worker must share with the leader's engine
# (runtime.yaml's `engine` keys -> vLLM flags). Parsers and the API server's
# settings concern the leader only.
_WORKER_FLAGS = (
    "runner",
    "dtype",
    "max_model_len",
    "gpu_memory_utilization",
    "tensor_parallel_size",
    "max_num_seqs",
    "quantization",
    "enforce_eager",
    "enable_lora",
)
_RUNTIME_SEED = 0  # the runtime's engine seed (runtime-config.md): workers sample with it too
_RUNTIME_MAX_LORA_RANK = 16


def group_engine_args(spec: DeploymentSpec) -> dict[str, Any]:
    """Engine arguments every pod of a group shares (runtime.yaml's extra_args):
    pipeline stages, and for several nodes the multi-node launch. Empty for a
    single-node, single-stage spec, so its config (and hash) stay as they were."""
    args: dict[str, Any] = {}
    if spec.engine.pipeline_parallel_size > 1:
        args["pipeline_parallel_size"] = spec.engine.pipeline_parallel_size
    if spec.multi_node:
        args["nnodes"] = spec.resources.nodes_per_replica
        args["master_port"] = MASTER_PORT
        args["distributed_executor_backend"] = "mp"
    return args


def pod_ip_env() -> dict[str, Any]:
    # The address this pod's vLLM processes advertise to the others.
    return {"name": "VLLM_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def leader_env() -> list[dict[str, Any]]:
    """The leader's additions: rank 0 at its own stable address. Per pod, hence
    env (the runtime merges PASTURE_ENGINE__EXTRA_ARGS under runtime.yaml's)."""
    rank0 = {"master_addr": LEADER_ADDRESS, "node_rank": 0}
    return [
        pod_ip_env(),
        {"name": "PASTURE_ENGINE__EXTRA_ARGS", "value": json.dumps(rank0, sort_keys=True)},
    ]


def _flag(key: str, value: Any) -> list[str]:
    flag = "--" + key.replace("_", "-")
    if value is True:
        return [flag]
    if value is False:
        return []
    if isinstance(value, (dict, list)):
        return [flag, json.dumps(value, sort_keys=True)]
    return [flag, str(value)]


def worker_args(engine: Mapping[str, Any]) -> list[str]:
    """`vllm serve` arguments of a headless worker: the leader's engine (runtime.yaml's
    `engine`, extra_args included) at this pod's node rank."""
    args = ["serve", str(engine["model"]), "--headless"]
    args += ["--node-rank", WORKER_INDEX, "--master-addr", LEADER_ADDRESS]
    for key in _WORKER_FLAGS:
        if engine.get(key) is not None:
            args += _flag(key, engine[key])
    if engine.get("enable_lora"):
        args += ["--max-lora-rank", str(_RUNTIME_MAX_LORA_RANK)]
    args += ["--seed", str(_RUNTIME_SEED)]
    for key, value in sorted((engine.get("extra_args") or {}).items()):
        if key not in ("master_addr", "node_rank"):
            args += _flag(key, value)
    return args

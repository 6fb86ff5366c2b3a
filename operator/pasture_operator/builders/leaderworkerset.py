"""A multi-node replica as a LeaderWorkerSet group (leaderworkerset.x-k8s.io/v1).

One group per replica, `resources.nodesPerReplica` pods each. The leader is the
runtime pod of a Deployment (builders/deployment.py's template): the Ollama API
server and vLLM's engine with ranks 0..gpus-1; each worker runs vLLM headless
with the next node's ranks and joins the leader.

The launch is vLLM's own multi-node multiprocessing one, not a Ray cluster in
the group (as KServe and llm-d do): vLLM 0.32's `--nnodes/--node-rank/
--master-addr/--master-port` with `--headless` workers run tensor and pipeline
parallelism across nodes over torch.distributed, so the image needs no Ray, the
pods no Ray head/worker processes and their ports, and the leader's engine is
the same AsyncLLM the single-node runtime starts (docs/multinode.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasture_operator.builders.deployment import PodInputs, runtime_pod_template
from pasture_operator.builders.group_launch import (
    MASTER_PORT,
    MASTER_PORT_NAME,
    leader_env,
    pod_ip_env,
    worker_args,
)
from pasture_operator.builders.meta import deployment_labels, object_meta
from pasture_operator.builders.names import group_set_name
from pasture_operator.constants import LWS_WORKER_INDEX_LABEL
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.owner import Owner

LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_KIND = "LeaderWorkerSet"
# LeaderWorkerSet's own label and annotation keys (sigs.k8s.io/lws api/leaderworkerset/v1).
WORKER_INDEX_LABEL = LWS_WORKER_INDEX_LABEL
EXCLUSIVE_TOPOLOGY_ANNOTATION = "leaderworkerset.sigs.k8s.io/exclusive-topology"


def _leader(template: Mapping[str, Any]) -> dict[str, Any]:
    spec = dict(template["spec"])
    runtime = dict(spec["containers"][0])
    runtime["env"] = [*leader_env(), *runtime["env"]]
    runtime["ports"] = [
        *runtime["ports"],
        {"name": MASTER_PORT_NAME, "containerPort": MASTER_PORT, "protocol": "TCP"},
    ]
    return {**template, "spec": {**spec, "containers": [runtime, *spec["containers"][1:]]}}


def _worker(template: Mapping[str, Any], engine: Mapping[str, Any]) -> dict[str, Any]:
    """The leader's pod without the API server: no HTTP port or probes (a worker is
    Ready once running; a crash restarts the whole group), no preStop pause."""
    spec = dict(template["spec"])
    runtime = {
        k: v
        for k, v in spec["containers"][0].items()
        if k not in ("ports", "startupProbe", "readinessProbe", "livenessProbe", "lifecycle")
    }
    runtime["command"] = ["vllm"]
    runtime["args"] = worker_args(engine)
    runtime["env"] = [pod_ip_env(), *runtime["env"]]
    meta = dict(template["metadata"])
    # Not scraped: the leader's /metrics speaks for the group.
    meta["annotations"] = {
        k: v for k, v in meta["annotations"].items() if not k.startswith("prometheus.io/")
    }
    return {"metadata": meta, "spec": {**spec, "containers": [runtime]}}


def leader_worker_set(
    owner: Owner,
    spec: DeploymentSpec,
    inputs: PodInputs,
    *,
    replicas: int,
    engine: Mapping[str, Any],
) -> dict[str, Any]:
    """The LeaderWorkerSet for a multi-node ModelDeployment: `replicas` groups (decided
    by the plan), `engine` the runtime config's engine section the leader runs."""
    name = owner.name
    template = runtime_pod_template(owner, spec, inputs)
    annotations = {}
    if spec.resources.exclusive_topology:
        annotations[EXCLUSIVE_TOPOLOGY_ANNOTATION] = spec.resources.exclusive_topology
    return {
        "apiVersion": LWS_API_VERSION,
        "kind": LWS_KIND,
        "metadata": object_meta(owner, group_set_name(name), deployment_labels(name), annotations),
        "spec": {
            "replicas": replicas,
            # Workers start with the leader: its engine (and readiness) waits for them.
            "startupPolicy": "LeaderCreated",
            # Surge first, as for a Deployment: a new group is Ready before an old one goes.
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "leaderWorkerTemplate": {
                "size": spec.resources.nodes_per_replica,
                # vLLM cannot re-admit one restarted rank: any pod's restart restarts the group.
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": _leader(template),
                "workerTemplate": _worker(template, engine),
            },
        },
    }

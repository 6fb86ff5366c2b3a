"""The runtime Deployment: one vLLM engine per pod behind the Ollama-compatible server."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pasture_operator.builders.configmap import configmap_name
from pasture_operator.builders.meta import deployment_labels, object_meta, selector_labels
from pasture_operator.constants import (
    ANNOTATION_CONFIG_HASH,
    API_KEYS_DIR,
    CONFIG_DIR,
    CONFIG_PATH,
    RUNTIME_PORT,
)
from pasture_operator.spec.deployment import DeploymentSpec, Resources
from pasture_operator.spec.owner import Owner
from pasture_operator.spec.placement import Placement
from pasture_operator.spec.resolved import Volume

# Grace beyond the runtime's own drain timeout for the preStop pause and exit.
_EXTRA_GRACE_SECONDS = 15
# Time for endpoints to drop the pod before the runtime stops accepting.
_PRESTOP_SLEEP_SECONDS = 5
_STARTUP_PERIOD_SECONDS = 10


def _resources(res: Resources, place: Placement) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res.cpu is not None:
        requests["cpu"] = str(res.cpu)
    if res.memory is not None:
        # Memory limit = request: an engine over its budget should be OOMKilled
        # visibly rather than squeeze its neighbours.
        requests["memory"] = limits["memory"] = str(res.memory)
    if place.gpus > 0:
        requests[place.resource_name] = limits[place.resource_name] = str(place.gpus)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _env(
    spec: DeploymentSpec,
    hf_token_secret: Mapping[str, str] | None,
    hf_endpoint: str | None,
    hf_offline: bool,
    weights: WeightsCheck,
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": "/cache/huggingface"},
        {"name": "XDG_CACHE_HOME", "value": "/cache"},
    ]
    if hf_token_secret:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": dict(hf_token_secret)}})
    if hf_endpoint:  # a Hugging Face mirror
        env.append({"name": "HF_ENDPOINT", "value": hf_endpoint})
    if hf_offline:  # weights are local: never wait on a hub an air-gapped cluster cannot reach
        env.append({"name": "HF_HUB_OFFLINE", "value": "1"})
    # Only when set: pods of Models without them keep their template (no rollout).
    if not weights.verify:  # the runtime's weights_check.py: on unless the Model says no
        env.append({"name": "PASTURE_ENGINE__VERIFY_WEIGHTS", "value": "false"})
    if weights.pinned_digest:
        env.append({"name": "PASTURE_ENGINE__WEIGHTS_DIGEST", "value": weights.pinned_digest})
    env.extend(dict(e) for e in spec.pod_overrides.env)
    return env


def _volumes(
    name: str, spec: DeploymentSpec, volumes: Sequence[Volume]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The runtime container's mounts and the pod's volumes."""
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cache", "mountPath": "/cache"},
    ]
    pod_volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": configmap_name(name)}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shm_size}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}},
    ]
    for vol in volumes:
        mounts.append({"name": vol.name, "mountPath": vol.mount_path, "readOnly": True})
        pod_volumes.append(
            {
                "name": vol.name,
                "persistentVolumeClaim": {"claimName": vol.claim_name, "readOnly": True},
            }
        )
    if spec.api_key_secret is not None:
        mounts.append({"name": "api-keys", "mountPath": API_KEYS_DIR, "readOnly": True})
        pod_volumes.append({"name": "api-keys", "secret": {"secretName": spec.api_key_secret.name}})
    mounts.extend(dict(m) for m in spec.pod_overrides.volume_mounts)
    pod_volumes.extend(dict(v) for v in spec.pod_overrides.volumes)
    return mounts, pod_volumes


def _probes(startup_timeout: int) -> dict[str, Any]:
    return {
        # Loading big weights can take many minutes: the startup probe holds
        # liveness off for the whole startup budget, and it probes /startupz,
        # which answers 200 only once the engine is up, so the budget bounds
        # the load (a hung hub fetch or NCCL init is restarted).
        "startupProbe": {
            "httpGet": {"path": "/startupz", "port": "http"},
            "periodSeconds": _STARTUP_PERIOD_SECONDS,
            "failureThreshold": max(1, math.ceil(startup_timeout / _STARTUP_PERIOD_SECONDS)),
        },
        # /readyz waits up to 5 s for the engine's health: a longer timeout,
        # and three misses, so a loop busy with streams is not called unready.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 5,
        },
    }


def _container(
    spec: DeploymentSpec,
    image: str,
    env: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    placement: Placement,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "runtime",
        "image": image,
        "args": ["serve", "--config", CONFIG_PATH],
        "command": ["pasture-runtime"],
        "ports": [{"name": "http", "containerPort": RUNTIME_PORT, "protocol": "TCP"}],
        "env": env,
        "volumeMounts": mounts,
        "resources": _resources(spec.resources, placement),
        **_probes(spec.startup_timeout_seconds),
        "lifecycle": {"preStop": {"sleep": {"seconds": _PRESTOP_SLEEP_SECONDS}}},
        # The runtime writes a fatal error's cause to /dev/termination-log; if
        # it could not (killed, crashed early), the log's tail stands in. Either
        # way lastState.terminated.message names the cause in our conditions.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    return container


def _pod_spec(
    spec: DeploymentSpec,
    container: dict[str, Any],
    pod_volumes: list[dict[str, Any]],
    placement: Placement,
) -> dict[str, Any]:
    drain = spec.server.drain_timeout_seconds
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": pod_volumes,
        "terminationGracePeriodSeconds": drain + _PRESTOP_SLEEP_SECONDS + _EXTRA_GRACE_SECONDS,
        "enableServiceLinks": False,
        # The runtime never calls the Kubernetes API: no token to steal from a pod.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if placement.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in placement.tolerations]
    if placement.node_selector:
        pod_spec["nodeSelector"] = dict(placement.node_selector)
    if spec.affinity:
        pod_spec["affinity"] = dict(spec.affinity)
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    return pod_spec


@dataclass(frozen=True)
class WeightsCheck:
    """The base Model's spec.verifyWeights and spec.digest, for the runtime's check."""

    verify: bool = True
    pinned_digest: str | None = None


@dataclass(frozen=True)
class PodInputs:
    """What a runtime pod is built from besides the spec (decided by the plan)."""

    image: str
    config_hash: str
    volumes: Sequence[Volume]
    placement: Placement
    hf_token_secret: Mapping[str, str] | None = None
    hf_endpoint: str | None = None
    hf_offline: bool = False
    weights: WeightsCheck = WeightsCheck()


def runtime_pod_template(owner: Owner, spec: DeploymentSpec, inputs: PodInputs) -> dict[str, Any]:
    """The runtime pod template (labels, annotations, spec) of a ModelDeployment:
    the Deployment's pods, and a LeaderWorkerSet's leaders (builders/leaderworkerset.py)."""
    name = owner.name
    env = _env(spec, inputs.hf_token_secret, inputs.hf_endpoint, inputs.hf_offline, inputs.weights)
    mounts, pod_volumes = _volumes(name, spec, inputs.volumes)
    container = _container(spec, inputs.image, env, mounts, inputs.placement)
    template_annotations = {
        **spec.pod_overrides.annotations,
        ANNOTATION_CONFIG_HASH: inputs.config_hash,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(RUNTIME_PORT),
        "prometheus.io/path": "/metrics",
    }
    return {
        "metadata": {
            "labels": {**spec.pod_overrides.labels, **deployment_labels(name)},
            "annotations": template_annotations,
        },
        "spec": _pod_spec(spec, container, pod_volumes, inputs.placement),
    }


def deployment(
    owner: Owner,
    spec: DeploymentSpec,
    *,
    image: str,
    replicas: int,
    config_hash: str,
    volumes: Sequence[Volume],
    placement: Placement,
    hf_token_secret: Mapping[str, str] | None = None,
    hf_endpoint: str | None = None,
    hf_offline: bool = False,
) -> dict[str, Any]:
    """Deployment dict for a ModelDeployment; `replicas` is decided by the plan and
    `placement` (GPUs, node selector, tolerations: spec merged with its GPU profile)
    by reconcile/placement.py."""
    inputs = PodInputs(
        image, config_hash, volumes, placement, hf_token_secret, hf_endpoint, hf_offline
    )
    return deployment_from(owner, spec, inputs, replicas=replicas)


def deployment_from(
    owner: Owner, spec: DeploymentSpec, inputs: PodInputs, *, replicas: int
) -> dict[str, Any]:
    """The Deployment from the pod's inputs (the plan's entry point)."""
    name = owner.name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(owner, name, deployment_labels(name)),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(name)},
            # Surge first: a replacement pod must be Ready before an old one goes.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "progressDeadlineSeconds": spec.startup_timeout_seconds + 600,
            "revisionHistoryLimit": 3,
            "template": runtime_pod_template(owner, spec, inputs),
        },
    }

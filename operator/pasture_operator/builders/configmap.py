"""The runtime config (docs/runtime-config.md) and the ConfigMap that carries it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from pasture_operator.builders.group_launch import group_engine_args
from pasture_operator.builders.meta import deployment_labels, object_meta
from pasture_operator.constants import API_KEYS_DIR, CONFIG_KEY, RUNTIME_PORT
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.owner import Owner
from pasture_operator.spec.resolved import ResolvedModel


def _entry(model: ResolvedModel) -> dict[str, Any]:
    # Drop unset optional keys so the file stays readable; the runtime defaults them.
    return {k: v for k, v in model.entry.items() if v not in (None, [], {}) or k == "name"}


def _stages_per_pod(spec: DeploymentSpec) -> int:
    stages, pods = spec.engine.pipeline_parallel_size, spec.resources.nodes_per_replica
    return max(stages // pods, 1)


def _engine(
    spec: DeploymentSpec, base: ResolvedModel, variants: Sequence[ResolvedModel], gpus: int
) -> dict[str, Any]:
    eng, hints = spec.engine, base.engine
    engine: dict[str, Any] = {
        "model": base.engine_model,
        "runner": "pooling" if base.kind == "embedding" else "generate",
        "dtype": hints.get("dtype") or "auto",
        "max_model_len": eng.max_model_len or hints.get("maxContext"),
        "gpu_memory_utilization": eng.gpu_memory_utilization,
        # Tensor parallelism spans the pod's GPUs unless told otherwise; pipeline
        # stages sharing one pod share its GPUs (a multi-node replica: one per pod).
        "tensor_parallel_size": eng.tensor_parallel_size or max(gpus // _stages_per_pod(spec), 1),
        "max_num_seqs": eng.max_num_seqs,
        "quantization": hints.get("quantization"),
        "enforce_eager": eng.enforce_eager,
        "enable_lora": any(m.entry.get("adapter") for m in (base, *variants)),
        "tool_call_parser": hints.get("toolParser"),
        "reasoning_parser": hints.get("reasoningParser"),
        # A library entry's engine arguments (language_model_only for a text-only
        # entry, trust_remote_code) under the deployment's own.
        "extra_args": {**hints.get("engineArgs", {}), **group_engine_args(spec), **eng.extra_args},
    }
    if base.revision and base.revision != "main":
        engine["extra_args"].setdefault("revision", base.revision)
    return {k: v for k, v in engine.items() if v is not None}


def _server(spec: DeploymentSpec) -> dict[str, Any]:
    srv = spec.server
    server: dict[str, Any] = {
        "host": "0.0.0.0",
        "port": RUNTIME_PORT,
        "drain_timeout_seconds": srv.drain_timeout_seconds,
    }
    if srv.max_running is not None:
        server["max_running"] = srv.max_running
    if srv.max_waiting is not None:
        server["max_waiting"] = srv.max_waiting
    if spec.api_key_secret is not None:
        server["api_keys_file"] = f"{API_KEYS_DIR}/{spec.api_key_secret.key}"
    return server


def runtime_config(
    spec: DeploymentSpec,
    base: ResolvedModel,
    variants: Sequence[ResolvedModel],
    *,
    gpus: int,
) -> dict[str, Any]:
    """The runtime.yaml document: one engine, the base model and its variants as names.

    `gpus` is the pod's effective GPU count (the spec merged with its GPU profile).
    """
    return {
        "engine": _engine(spec, base, variants, gpus),
        "models": [_entry(m) for m in (base, *variants)],
        "server": _server(spec),
    }


def render(config: Mapping[str, Any]) -> str:
    # Deterministic text: the same spec gives the same bytes, hence the same hash.
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def configmap_name(md_name: str) -> str:
    return f"{md_name}-runtime"


def configmap(owner: Owner, text: str) -> dict[str, Any]:
    name = owner.name
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(owner, configmap_name(name), deployment_labels(name)),
        "data": {CONFIG_KEY: text},
    }

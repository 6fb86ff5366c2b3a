"""The runtime config (docs/runtime-config.md) and the ConfigMap that carries it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from pasture_operator.builders.meta import deployment_labels, object_meta
from pasture_operator.constants import API_KEYS_DIR, CONFIG_KEY, RUNTIME_PORT
from pasture_operator.reconcile.resolve import ResolvedModel


def _entry(model: ResolvedModel) -> dict[str, Any]:
    # Drop unset optional keys so the file stays readable; the runtime defaults them.
    return {k: v for k, v in model.entry.items() if v not in (None, [], {}) or k == "name"}


def runtime_config(
    md: Mapping[str, Any],
    base: ResolvedModel,
    variants: Sequence[ResolvedModel],
    *,
    gpus: int,
) -> dict[str, Any]:
    """The runtime.yaml document: one engine, the base model and its variants as names.

    `gpus` is the pod's effective GPU count (the spec merged with its GPU profile).
    """
    spec = md.get("spec") or {}
    eng = spec.get("engine") or {}
    hints = base.engine
    engine: dict[str, Any] = {
        "model": base.engine_model,
        "runner": "pooling" if base.kind == "embedding" else "generate",
        "dtype": hints.get("dtype") or "auto",
        "max_model_len": eng.get("maxModelLen") or hints.get("maxContext"),
        "gpu_memory_utilization": float(eng.get("gpuMemoryUtilization") or 0.9),
        # Tensor parallelism spans the pod's GPUs unless told otherwise.
        "tensor_parallel_size": int(eng.get("tensorParallelSize") or max(gpus, 1)),
        "max_num_seqs": eng.get("maxNumSeqs"),
        "quantization": hints.get("quantization"),
        "enforce_eager": bool(eng.get("enforceEager", False)),
        "enable_lora": any(m.entry.get("adapter") for m in (base, *variants)),
        "tool_call_parser": hints.get("toolParser"),
        "reasoning_parser": hints.get("reasoningParser"),
        "extra_args": dict(eng.get("extraArgs") or {}),
    }
    if base.revision and base.revision != "main":
        engine["extra_args"].setdefault("revision", base.revision)
    engine = {k: v for k, v in engine.items() if v is not None}
    srv = spec.get("server") or {}
    server: dict[str, Any] = {
        "host": "0.0.0.0",
        "port": RUNTIME_PORT,
        "drain_timeout_seconds": int(srv.get("drainTimeoutSeconds", 30)),
    }
    if srv.get("maxRunning") is not None:
        server["max_running"] = int(srv["maxRunning"])
    if srv.get("maxWaiting") is not None:
        server["max_waiting"] = int(srv["maxWaiting"])
    key_ref = spec.get("apiKeySecretRef")
    if key_ref:
        server["api_keys_file"] = f"{API_KEYS_DIR}/{key_ref.get('key') or 'api-key'}"
    return {"engine": engine, "models": [_entry(m) for m in (base, *variants)], "server": server}


def render(config: Mapping[str, Any]) -> str:
    # Deterministic text: the same spec gives the same bytes, hence the same hash.
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def configmap_name(md_name: str) -> str:
    return f"{md_name}-runtime"


def configmap(md: Mapping[str, Any], text: str) -> dict[str, Any]:
    name = str(md["metadata"]["name"])
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(md, configmap_name(name), deployment_labels(name)),
        "data": {CONFIG_KEY: text},
    }

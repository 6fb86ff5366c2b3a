"""Runtime settings: the contract in docs/runtime-config.md.

Three sources, lowest priority first: `PASTURE_*` environment variables, the
YAML config file, command-line flags. Unknown keys in the file are errors so a
typo in an operator-rendered ConfigMap fails loudly instead of being ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineConfig(_Strict):
    model: str
    runner: Literal["generate", "pooling"] = "generate"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    max_model_len: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_num_seqs: int | None = Field(default=None, gt=0)
    quantization: str | None = None
    enforce_eager: bool = False
    enable_lora: bool = False
    max_lora_rank: int = Field(default=16, gt=0)
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    seed: int = 0
    extra_args: dict[str, Any] = Field(default_factory=dict)
    # Hash the weights against their manifest at start (weights_check.py); the
    # digest a Model pins (spec.digest), which the manifest must carry.
    verify_weights: bool = True
    weights_digest: str | None = None


class AdapterConfig(_Strict):
    path: str


class MessageConfig(_Strict):
    role: str
    content: str


class ModelEntry(_Strict):
    name: str
    aliases: list[str] = Field(default_factory=list)
    system: str | None = None
    template: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    messages: list[MessageConfig] = Field(default_factory=list)
    license: str | None = None
    adapter: AdapterConfig | None = None

    @field_validator("name")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("model name must not be empty")
        return v


class ServerConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=11434, ge=0, le=65535)
    max_running: int | None = Field(default=None, gt=0)
    max_waiting: int = Field(default=256, ge=0)
    drain_timeout_seconds: float = Field(default=30, ge=0)
    # Pasture additions (not in the original contract; documented there):
    # readiness fails when requests are pending and no token came for this long.
    stall_timeout_seconds: float = Field(default=120, gt=0)
    # Liveness (/healthz) fails when requests are pending and no token came for
    # this long: the kubelet restarts a wedged engine. Generous on purpose (a
    # long prefill or a slow NCCL collective must not restart a pod).
    liveness_stall_timeout_seconds: float = Field(default=600, gt=0)
    # Where a fatal error's one-line cause goes (Kubernetes' terminationMessagePath),
    # so the pod's status and the operator's conditions name it. Skipped if not writable.
    termination_message_path: str = "/dev/termination-log"
    # Largest accepted request body; bigger bodies get a 413.
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    # File of API keys (one per line); re-read when it changes. Unset = no auth.
    api_keys_file: str | None = None
    # Whether /metrics also needs a key (with the metrics scope) when keys are configured.
    metrics_auth: bool = False
    # One JSON record per direct API call on the `pasture.audit` logger (stdout).
    audit: bool = True
    log_level: str = "info"
    # Browser origins allowed besides Ollama's defaults (cors.py): Ollama's
    # OLLAMA_ORIGINS; from the environment a comma-separated PASTURE_ORIGINS.
    origins: list[str] = Field(default_factory=list)

    @field_validator("origins", mode="before")
    @classmethod
    def _split_origins(cls, v: Any) -> Any:
        return [o for o in v.split(",") if o.strip()] if isinstance(v, str) else v


class RuntimeConfig(_Strict):
    engine: EngineConfig
    models: list[ModelEntry] = Field(min_length=1)
    server: ServerConfig = Field(default_factory=ServerConfig)

    @model_validator(mode="after")
    def _lora_for_adapters(self) -> RuntimeConfig:
        # An adapter is only served by an engine started with LoRA support.
        if any(m.adapter for m in self.models):
            self.engine.enable_lora = True
        return self


def adapter_problems(config: RuntimeConfig) -> list[str]:
    """Why the configured adapters cannot be served, checked at startup (vLLM
    would only find out at the first request to each, as a 500). A path that
    is not a local directory is a Hugging Face repo id: vLLM fetches it."""
    problems: list[str] = []
    if config.engine.runner == "pooling" and any(m.adapter for m in config.models):
        problems.append("LoRA adapters need engine.runner: generate")
    max_rank = int(config.engine.extra_args.get("max_lora_rank") or config.engine.max_lora_rank)
    for m in config.models:
        if m.adapter is None:
            continue
        where = Path(m.adapter.path)
        if not where.is_dir():
            if where.is_absolute() or m.adapter.path.startswith("."):
                problems.append(f"{m.name}: adapter directory {m.adapter.path} does not exist")
            continue
        try:
            peft = json.loads((where / "adapter_config.json").read_text())
        except (OSError, ValueError) as e:
            problems.append(f"{m.name}: cannot read {where / 'adapter_config.json'}: {e}")
            continue
        if not isinstance(peft, dict) or peft.get("peft_type", "LORA") != "LORA":
            problems.append(f"{m.name}: {where} is not a LoRA adapter (peft_type LORA)")
            continue
        ranks = [peft.get("r") or 0, *(peft.get("rank_pattern") or {}).values()]
        rank = max(int(r) for r in ranks)
        if rank > max_rank:
            problems.append(
                f"{m.name}: adapter rank {rank} is over engine.max_lora_rank {max_rank}"
            )
    return problems


# Flags and short environment variables: name -> (section, field). The env var
# is PASTURE_<NAME upper-cased>, e.g. PASTURE_MAX_MODEL_LEN. Nested fields are
# also reachable as PASTURE_<SECTION>__<FIELD> (e.g. PASTURE_SERVER__MAX_WAITING).
SHORT_FIELDS: dict[str, tuple[str, str]] = {
    "model": ("engine", "model"),
    "runner": ("engine", "runner"),
    "dtype": ("engine", "dtype"),
    "max_model_len": ("engine", "max_model_len"),
    "gpu_memory_utilization": ("engine", "gpu_memory_utilization"),
    "tensor_parallel_size": ("engine", "tensor_parallel_size"),
    "max_num_seqs": ("engine", "max_num_seqs"),
    "quantization": ("engine", "quantization"),
    "enforce_eager": ("engine", "enforce_eager"),
    "tool_call_parser": ("engine", "tool_call_parser"),
    "reasoning_parser": ("engine", "reasoning_parser"),
    "seed": ("engine", "seed"),
    "host": ("server", "host"),
    "port": ("server", "port"),
    "max_running": ("server", "max_running"),
    "max_waiting": ("server", "max_waiting"),
    "drain_timeout_seconds": ("server", "drain_timeout_seconds"),
    "stall_timeout_seconds": ("server", "stall_timeout_seconds"),
    "liveness_stall_timeout_seconds": ("server", "liveness_stall_timeout_seconds"),
    "termination_message_path": ("server", "termination_message_path"),
    "api_keys_file": ("server", "api_keys_file"),
    "log_level": ("server", "log_level"),
    "origins": ("server", "origins"),
}
_SECTIONS = ("engine", "server")
_STRINGS = ("model", "host", "quantization", "termination_message_path", "origins")


def _env_value(raw: str) -> Any:
    # Env values are strings; JSON lets dicts/lists/numbers through, and
    # pydantic's lax mode coerces the rest ("2048" -> 2048).
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith("PASTURE_") or key == "PASTURE_CONFIG":
            continue
        name = key[len("PASTURE_") :].lower()
        if "__" in name:
            section, _, field = name.partition("__")
            if section in _SECTIONS:
                out.setdefault(section, {})[field] = _env_value(raw)
        elif name in SHORT_FIELDS:
            section, field = SHORT_FIELDS[name]
            # Hostnames and model ids stay strings even if they parse as JSON.
            value = raw if field in _STRINGS else _env_value(raw)
            out.setdefault(section, {})[field] = value
        elif name == "name":
            out["models"] = [{"name": raw}]
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_model_name(model: str) -> str:
    """`/models/Llama-3.2-1B/` -> `llama-3.2-1b:latest` (used when no name is given)."""
    return Path(model.rstrip("/")).name.lower() + ":latest"


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> RuntimeConfig:
    """Build the settings: env, then the file, then `overrides` (from flags)."""
    env = os.environ if env is None else env
    data = _from_env(env)
    path = path or env.get("PASTURE_CONFIG") or None
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config file must hold a mapping")
        data = _merge(data, loaded)
    if overrides:
        data = _merge(data, overrides)
    engine = data.get("engine")
    if not data.get("models") and isinstance(engine, dict) and engine.get("model"):
        data["models"] = [{"name": default_model_name(str(engine["model"]))}]
    return RuntimeConfig.model_validate(data)

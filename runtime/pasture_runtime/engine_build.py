"""Building vLLM's engine from the runtime config (runtime.yaml's `engine`):
the same code builds the production engine and the tests' shared one. Part of
the engine layer (it imports vLLM); engine.py re-exports both functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import EngineConfig

if TYPE_CHECKING:
    from vllm.engine.arg_utils import AsyncEngineArgs


def engine_args(cfg: EngineConfig) -> AsyncEngineArgs:
    """AsyncEngineArgs for the config: the same code builds the production
    engine and the tests' shared engine, so both run with the same settings."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    kwargs: dict[str, Any] = {
        "model": cfg.model,
        "runner": cfg.runner,
        "dtype": cfg.dtype,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "enforce_eager": cfg.enforce_eager,
        "enable_lora": cfg.enable_lora,
        "max_lora_rank": cfg.max_lora_rank,
        "seed": cfg.seed,
    }
    for key in ("max_model_len", "max_num_seqs", "quantization", "reasoning_parser"):
        value = getattr(cfg, key)
        if value is not None:
            kwargs[key] = value
    # No length set: the model's own maximum if the KV cache holds one such
    # sequence, else the longest it holds (vLLM's auto-fit) rather than a
    # failed start. Ollama picks 4k/32k/256k by VRAM instead (docs/runtime.md).
    kwargs.setdefault("max_model_len", -1)
    kwargs.update(cfg.extra_args)
    if "structured_outputs_config" not in kwargs:
        from vllm.config import StructuredOutputsConfig

        # vLLM 0.32 backends read disable_any_whitespace from this engine-wide
        # config, not from the request's StructuredOutputsParams. Compact JSON
        # (no free whitespace) keeps a weak model from spending its budget on
        # spaces; it needs an explicit backend, and xgrammar is vLLM's default.
        kwargs["structured_outputs_config"] = StructuredOutputsConfig(
            backend="xgrammar", disable_any_whitespace=True
        )
    return AsyncEngineArgs(**kwargs)


def build_engine(cfg: EngineConfig) -> Any:
    """Start vLLM's AsyncLLM (spawns the engine-core process; slow)."""
    from vllm.v1.engine.async_llm import AsyncLLM

    return AsyncLLM.from_engine_args(engine_args(cfg))

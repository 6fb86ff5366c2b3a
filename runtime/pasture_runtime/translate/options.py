"""Ollama `options` -> engine sampling settings.

Type checks follow Ollama's `Options.FromMap` (api/types.go): integers accept
any JSON number (truncated), floats any JSON number, booleans only booleans,
`stop` an array of strings (a lone string is accepted too, as clients send
one). Unknown keys are ignored; a wrong type is a 400 naming the option.

Python's JSON reader also takes what Go's refuses: NaN, Infinity, and
integers of any size (1e400 is a float infinity). A non-finite number, or an
integer option outside int64 (Go's int, and vLLM's bound for `seed`), is a
400 naming the option, never a 500 from `int(inf)` or a crash in the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import OllamaError
from . import fit

INT_OPTIONS = frozenset(
    {
        "num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "mirostat",
        "num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "num_gqa",
    }
)  # fmt: skip
FLOAT_OPTIONS = frozenset(
    {
        "top_p", "min_p", "typical_p", "tfs_z", "temperature", "repeat_penalty",
        "presence_penalty", "frequency_penalty", "mirostat_tau", "mirostat_eta",
    }
)  # fmt: skip
BOOL_OPTIONS = frozenset(
    {
        "numa", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mmap",
        "use_mlock", "penalize_newline", "embedding_only",
    }
)  # fmt: skip

# Ollama's defaults (api/types.go DefaultOptions). num_ctx has no default here:
# the engine's max_model_len is the context unless a request or model asks less.
DEFAULTS: dict[str, Any] = {
    "num_keep": 4,
    "seed": -1,
    "num_predict": -1,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "temperature": 0.8,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "stop": [],
}


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int_option(key: str, value: Any) -> int:
    if not _is_number(value):
        raise OllamaError(400, f'option "{key}" must be of type integer')
    if isinstance(value, float) and not math.isfinite(value):
        raise OllamaError(400, f'option "{key}" must be a finite number')
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise OllamaError(
            400, f'option "{key}" is out of range: {INT64_MIN} to {INT64_MAX} allowed'
        )
    return number


def _float_option(key: str, value: Any) -> float:
    if not _is_number(value):
        raise OllamaError(400, f'option "{key}" must be of type float32')
    try:
        number = float(value)
    except OverflowError:  # an integer too big for a float
        number = math.inf
    if not math.isfinite(number):
        raise OllamaError(400, f'option "{key}" must be a finite number')
    return number


def validate_options(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Type-check and normalise known options; drop unknown ones and nulls."""
    out: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        if value is None:
            continue
        if key in INT_OPTIONS:
            out[key] = _int_option(key, value)
        elif key in FLOAT_OPTIONS:
            out[key] = _float_option(key, value)
        elif key in BOOL_OPTIONS:
            if not isinstance(value, bool):
                raise OllamaError(400, f'option "{key}" must be of type boolean')
            out[key] = value
        elif key == "stop":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise OllamaError(400, f'option "{key}" must be of type array')
            if not all(isinstance(s, str) for s in value):
                raise OllamaError(400, f'option "{key}" must be of an array of strings')
            out[key] = list(value)
        # else: unknown option, ignored as Ollama does
    return out


def effective_options(
    model_parameters: dict[str, Any], request_options: dict[str, Any] | None
) -> dict[str, Any]:
    """Ollama defaults <- the model's PARAMETERs <- the request's options."""
    merged = dict(DEFAULTS)
    merged.update(validate_options(model_parameters))
    merged.update(validate_options(request_options))
    return merged


@dataclass(frozen=True)
class SamplingPlan:
    """What the engine needs to sample, in vLLM's terms (kwargs for SamplingParams)."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    # Context window for this request (tokens), <= the engine's max length.
    context_length: int = 0
    # Output cap from num_predict; None = until the context is full.
    num_predict: int | None = None


def plan_sampling(opts: dict[str, Any], engine_max_len: int) -> SamplingPlan:
    """Map effective Ollama options onto vLLM sampling parameters."""
    temperature = max(0.0, float(opts["temperature"]))
    top_k = int(opts["top_k"])
    top_p = float(opts["top_p"])
    kwargs: dict[str, Any] = {
        "temperature": temperature,
        # Ollama: top_k <= 0 disables it; vLLM spells "disabled" as 0 or -1.
        "top_k": top_k if top_k > 0 else 0,
        # Out-of-range top_p means "off" in llama.cpp's sampler; vLLM would reject it.
        "top_p": top_p if 0.0 < top_p <= 1.0 else 1.0,
        "min_p": min(max(float(opts["min_p"]), 0.0), 1.0),
        # repeat_penalty 0 is "unset" in Ollama; vLLM needs > 0.
        "repetition_penalty": (
            float(opts["repeat_penalty"]) if float(opts["repeat_penalty"]) > 0 else 1.0
        ),
        "presence_penalty": min(max(float(opts["presence_penalty"]), -2.0), 2.0),
        "frequency_penalty": min(max(float(opts["frequency_penalty"]), -2.0), 2.0),
        "stop": list(opts["stop"]) or None,
    }
    seed = int(opts["seed"])
    if seed >= 0:
        kwargs["seed"] = seed
    # typical_p has no vLLM equivalent: accepted and ignored (documented).
    num_ctx = opts.get("num_ctx")
    context_length = engine_max_len
    if isinstance(num_ctx, int) and num_ctx > 0:
        context_length = min(num_ctx, engine_max_len)
    num_predict = int(opts["num_predict"])
    # -1 (and -2, "fill the context") and 0 mean no explicit cap.
    return SamplingPlan(
        kwargs=kwargs,
        context_length=context_length,
        num_predict=num_predict if num_predict > 0 else None,
    )


def fit_prompt(prompt_ids: list[int], plan: SamplingPlan, truncate: bool) -> tuple[list[int], int]:
    """Fit the prompt into the context; return (prompt ids, max new tokens).

    A prompt too long to leave the reply its room (fit.reply_room) is cut
    from the front down to the window minus that room when `truncate` is
    true; with `truncate: false` only a prompt that leaves no room for even
    one token is refused (a 400), as before. A prompt that fits may still
    use the whole window: the room is a floor for the reply, not a cap."""
    ctx = plan.context_length
    if len(prompt_ids) >= ctx and not truncate:
        raise OllamaError(
            400,
            f"input length ({len(prompt_ids)} tokens) exceeds the context length ({ctx})",
            code="context_length_exceeded",
        )
    budget = ctx - fit.reply_room(ctx, plan.num_predict)
    if truncate and len(prompt_ids) > budget:
        prompt_ids = prompt_ids[len(prompt_ids) - budget :]
    room = ctx - len(prompt_ids)
    max_tokens = room if plan.num_predict is None else min(plan.num_predict, room)
    return prompt_ids, max_tokens


def parameter_lines(parameters: dict[str, Any]) -> str:
    """Modelfile-style `name value` lines, as /api/show returns them."""
    lines: list[str] = []
    for key, value in parameters.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            shown = f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else v
            lines.append(f"{key:<30} {shown}")
    return "\n".join(lines)

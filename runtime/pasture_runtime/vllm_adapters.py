"""vLLM internals the engine reads, each behind one adapter function.

engine.py codes against vLLM's engine-client surface (AsyncLLM, SamplingParams,
PoolingParams), which is stable across releases. What is not (private
functions, attributes that are not part of any API, internal registries) is
reached here only, so an upgrade that moves one fails in one place with a
message naming the vLLM attribute (VllmChanged), and
tests/runtime/test_vllm_adapters.py fails before any engine starts."""

from __future__ import annotations

import logging
import re
from typing import Any

from .engine_types import EngineBadRequest

log = logging.getLogger(__name__)


class VllmChanged(RuntimeError):
    """A vLLM internal this runtime relies on moved or changed shape."""

    def __init__(self, what: str, error: BaseException | None = None) -> None:
        cause = f": {type(error).__name__}: {error}" if error is not None else ""
        super().__init__(
            f"vLLM changed {what}{cause}; pasture_runtime/vllm_adapters.py must follow it"
        )


def detect_content_format(template: str) -> str:
    """How `template` takes message content: "openai" (a list of parts) or
    "string", by vLLM's own detection (private: vllm.renderers.hf's
    _detect_content_format, which reads the template's Jinja AST)."""
    try:
        from vllm.renderers.hf import _detect_content_format
    except ImportError as e:
        raise VllmChanged("vllm.renderers.hf._detect_content_format", e) from e
    try:
        return str(_detect_content_format(template, default="string"))
    except TypeError as e:  # its signature changed
        raise VllmChanged("the signature of vllm.renderers.hf._detect_content_format", e) from e


def num_unfinished_requests(llm: Any) -> int:
    """Requests AsyncLLM's front-end still tracks (running + waiting): read from
    its `output_processor` attribute (not part of the engine-client API)."""
    processor = getattr(llm, "output_processor", None)
    count = getattr(processor, "get_num_unfinished_requests", None)
    if count is None:
        raise VllmChanged("AsyncLLM.output_processor.get_num_unfinished_requests")
    return int(count())


def client_errors() -> tuple[type[Exception], ...]:
    """What vLLM raises for a bad request (input validation in its processor):
    ValueError in older code paths, VLLMClientError (not a ValueError) in newer."""
    from vllm.exceptions import VLLMClientError

    return (ValueError, VLLMClientError)


def check_schema(schema: dict[str, Any]) -> None:
    """Compile a JSON schema now, so a bad one is a 400 before any stream starts
    (vLLM would only reject it once the request reaches its processor), with
    the same checks as vLLM's xgrammar backend (the one engine_args picks)."""
    import xgrammar as xgr
    from vllm.v1.structured_output.backend_xgrammar import (
        has_xgrammar_unsupported_json_features,
    )

    try:
        if has_xgrammar_unsupported_json_features(schema):
            raise ValueError("the schema uses features the xgrammar backend does not support")
        xgr.Grammar.from_json_schema(schema)
    except Exception as e:
        # xgrammar prefixes "[time] file.cc:line:"; the rest is the reason.
        reason = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", str(e)).strip()
        raise EngineBadRequest(f"invalid JSON schema in format: {reason}") from e


def processor_chat_template(tokenizer: Any, model_config: Any) -> Any:
    """The chat template resolved the way vLLM's own server does (the
    processor's first); raises when the model has none there."""
    from vllm.renderers.hf import resolve_chat_template

    return resolve_chat_template(tokenizer, None, None, model_config=model_config)


def max_images(model_config: Any) -> int:
    """vLLM's limit of images per prompt (the model's own maximum and
    `limit_mm_per_prompt`); 0 when it has no processor for the architecture."""
    from vllm.multimodal import MULTIMODAL_REGISTRY

    try:
        info = MULTIMODAL_REGISTRY.get_processing_info(model_config)
        return int(info.allowed_mm_limits.get("image", 0))
    except Exception:  # no processor for this architecture: no images
        log.warning("cannot read the model's image limit; images are refused", exc_info=True)
        return 0


def image_tokens(model_config: Any) -> int:
    """Prompt tokens one image may take once vLLM expands its placeholder (the
    model's maximum); Ollama's estimate (768) when vLLM cannot tell."""
    from vllm.multimodal import MULTIMODAL_REGISTRY
    from vllm.multimodal.encoder_budget import get_mm_max_toks_per_item

    try:
        processor = MULTIMODAL_REGISTRY.create_processor(model_config)
        per_item = get_mm_max_toks_per_item(processor, {"image": 1}, None)
        return int(per_item.get("image", 768))
    except Exception:
        log.warning("cannot read the model's tokens per image; assuming 768", exc_info=True)
        return 768


def model_class(model_config: Any) -> Any:
    from vllm.model_executor.model_loader import get_model_cls

    return get_model_cls(model_config)


def platform_is_cpu() -> bool:
    """vLLM's own answer to "is this a CPU build" (accelerator.py)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def nvml() -> Any:
    """The NVML binding vLLM ships (vllm.third_party.pynvml), for accelerator.py's
    memory reading; the API process itself does not link CUDA."""
    from vllm.third_party import pynvml

    return pynvml

"""The steps every generation request shares on its way to the engine:
capability checks, images, sampling parameters and the window."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..config import ModelEntry
from ..engine import Engine
from ..engine_types import EngineBadRequest
from ..errors import OllamaError
from ..state import Runtime
from ..translate import images as img
from ..translate import options as opt
from ..translate import thinking as think
from .common import Prepared, engine_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What the final step reads of a generation request, whatever its endpoint."""

    endpoint: str  # "generate" | "chat"
    model: str  # as the client sent it
    options: dict[str, Any] | None
    format: Any
    stream: bool | None
    truncate: bool | None
    received_ns: int
    label: str | None
    # Alternatives per token to report with logprobs (None: no logprobs).
    logprobs: int | None = None

    @property
    def metrics_label(self) -> str:
        return self.label or f"/api/{self.endpoint}"


def check_common(
    rt: Runtime, model: str, endpoint: str, think_value: Any, images: list[str] | None
) -> list[Any]:
    """Check what every generation request needs; return its decoded images."""
    if rt.config.engine.runner == "pooling":
        # Ollama's words for a model without the completion capability.
        raise OllamaError(400, f'"{model}" does not support {endpoint}')
    think.check_think(think_value)
    if think_value not in (None, False, "", "false") and not rt.config.engine.reasoning_parser:
        raise OllamaError(400, f'"{model}" does not support thinking')
    if not images:
        return []
    limit = rt.engine.max_images if rt.engine is not None else len(images)
    if limit == 0:
        raise OllamaError(400, f'"{model}" does not support images')
    if endpoint != "chat":  # a chat's limit counts the images its fitted prompt keeps
        check_image_count(rt, len(images))
    # Decoded before anything else runs: bad data is a 400 even for a load request.
    return img.decode_images(images)


def check_image_count(rt: Runtime, count: int) -> None:
    # Checked here, not by vLLM, so a streamed request gets its 400 too.
    limit = rt.engine.max_images if rt.engine is not None else count
    if count > limit:
        raise OllamaError(400, f"too many images: {count}, at most {limit} per request")


def place_images(
    engine: Engine,
    template: str,
    messages: list[dict[str, Any]],
    counts: list[int],
) -> list[dict[str, Any]]:
    """Messages for a multimodal model's template, images where it wants them
    (content parts, or the model's placeholder text); others pass as they are."""
    if not engine.is_multimodal:
        return messages
    parts = engine.content_format(template) == "openai"
    return img.place_images(messages, counts, parts, engine.image_placeholder)


def finish_prepare(rt: Runtime, entry: ModelEntry, req: Request, ids: list[int]) -> Prepared:
    """The Prepared request: options applied, the prompt fitted to the window,
    sampling parameters built."""
    engine = engine_of(rt)
    effective = opt.effective_options(entry.parameters, req.options)
    plan = opt.plan_sampling(effective, engine.max_model_len)
    given = len(ids)
    ids, max_tokens = opt.fit_prompt(ids, plan, req.truncate is not False)
    if len(ids) < given:
        note_fitted(rt, req.metrics_label, "tokens_cut", given - len(ids), len(ids), plan)
    try:
        kwargs = plan.kwargs if req.logprobs is None else {**plan.kwargs, "logprobs": req.logprobs}
        params = engine.sampling_params(kwargs, max_tokens, req.format or None)
    except EngineBadRequest as e:
        raise OllamaError(400, str(e)) from None
    return Prepared(
        endpoint=req.endpoint,
        model=req.model,
        prompt_ids=ids,
        params=params,
        stream=req.stream is not False,
        return_context=req.endpoint == "generate",
        adapter=entry.adapter.path if entry.adapter else None,
        received_ns=req.received_ns,
        label=req.metrics_label,
    )


def note_fitted(
    rt: Runtime, label: str, how: str, count: int, prompt_tokens: int, plan: opt.SamplingPlan
) -> None:
    """Count and log a prompt that had to be fitted (never its text)."""
    rt.metrics.prompts_fitted.labels(model=rt.model_label, endpoint=label, how=how).inc()
    unit = "messages" if how == "messages_dropped" else "tokens"
    fields = {
        "endpoint": label,
        "how": how,
        unit: count,
        "prompt_tokens": prompt_tokens,
        "context_length": plan.context_length,
    }
    log.info(
        "prompt fitted to the context: endpoint=%s how=%s %s=%d prompt_tokens=%d context=%d",
        label, how, unit, count, prompt_tokens, plan.context_length, extra={"fields": fields},
    )  # fmt: skip


def with_reasoning(rt: Runtime, prep: Prepared, think_value: Any) -> None:
    prep.reasoning_parser = rt.config.engine.reasoning_parser
    prep.hide_thinking = think.hides_thinking(think_value)

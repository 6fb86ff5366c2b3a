"""The /api/chat use case (and /v1/chat/completions, which becomes it): the
conversation fitted to the window by whole messages, rendered, tokenized."""

from __future__ import annotations

import itertools
import time
from typing import Any

from ..config import ModelEntry
from ..engine_types import EngineBadRequest
from ..errors import OllamaError
from ..protocol.ollama import ChatRequest
from ..state import Runtime
from ..translate import fit
from ..translate import logprobs as lp
from ..translate import options as opt
from ..translate import prompt as tpl
from ..translate import responses as rsp
from ..translate import thinking as think
from ..translate.keep_alive import is_unload
from .common import (
    LoadReply,
    Prepared,
    engine_of,
    model_capabilities,
    model_template,
    resolve_model,
)
from .prepare import (
    Request,
    check_common,
    check_image_count,
    finish_prepare,
    note_fitted,
    place_images,
    with_reasoning,
)


def prepare_chat(rt: Runtime, req: ChatRequest, label: str | None = None) -> Prepared | LoadReply:
    """A Prepared request, or the finished reply for an empty (load) message list."""
    received = time.monotonic_ns()
    logprobs = lp.requested(req.logprobs, req.top_logprobs)  # first, as Ollama
    entry = resolve_model(rt, req.model)
    model = req.model or entry.name
    images = check_common(
        rt, model, "chat", req.think, [i for m in req.messages or [] for i in (m.images or [])]
    )
    effective = opt.effective_options(entry.parameters, req.options)
    unload = is_unload(req.keep_alive)
    if req.tools and rt.engine is not None and "tools" not in model_capabilities(rt, entry):
        # CheckCapabilities' words (unquoted name), even for a load request, as
        # Ollama; the same rule as /api/show's list.
        raise OllamaError(400, f"{model} does not support tools")
    if not req.messages:
        return LoadReply(rsp.load_response(model, unload, chat=True))
    engine = engine_of(rt)
    messages = tpl.chat_messages(
        req.messages, entry.system, [m.model_dump() for m in entry.messages]
    )
    # The request's messages come last (after the model's SYSTEM and MESSAGEs).
    counts = [len(m.images or []) for m in req.messages]
    counts = [0] * (len(messages) - len(counts)) + counts
    plan = opt.plan_sampling(effective, engine.max_model_len)
    chat = _fit_chat(rt, entry, req, messages, counts, plan)
    ids = chat.ids
    if chat.dropped:
        note_fitted(rt, label or "/api/chat", "messages_dropped", chat.dropped, len(ids), plan)
    request = Request(
        "chat", model, req.options, req.format, req.stream, req.truncate, received, label, logprobs
    )
    prep = finish_prepare(rt, entry, request, ids)
    # The images of the messages kept, in order (those of dropped ones go with them).
    starts = list(itertools.accumulate(counts, initial=0))
    kept_images = [im for i in chat.kept for im in images[starts[i] : starts[i + 1]]]
    check_image_count(rt, len(kept_images))
    prep.images = kept_images or None
    if req.tools:  # the model has a tool parser: checked above
        prep.tools = req.tools
        prep.tool_parser = rt.config.engine.tool_call_parser
    with_reasoning(rt, prep, req.think)
    return prep


def _fit_chat(
    rt: Runtime,
    entry: ModelEntry,
    req: ChatRequest,
    messages: list[dict[str, Any]],
    counts: list[int],
    plan: opt.SamplingPlan,
) -> fit.ChatPrompt:
    """The conversation fitted to the window by whole messages (translate/fit.py),
    rendered with the model's template; images are placed per candidate, so
    numbered placeholders count only the images kept."""
    engine = engine_of(rt)
    template = model_template(rt, entry)
    variables = think.template_variables(req.think)
    go = tpl.go_template(entry.template)  # a Modelfile TEMPLATE in Ollama's syntax

    def render(kept: tuple[int, ...], with_tools: bool) -> str:
        chosen = place_images(
            engine, template, [messages[i] for i in kept], [counts[i] for i in kept]
        )
        tools = req.tools if with_tools else None
        if go is not None:
            return tpl.render_go_chat(go, chosen, tools, req.think)
        return engine.render_chat(chosen, template=entry.template, tools=tools, **variables)

    def encode(text: str) -> list[int]:
        return engine.encode(text, add_special_tokens=False)

    try:
        return fit.fit_chat(
            [m["role"] for m in messages], counts, render, encode,
            image_tokens=engine.image_tokens if any(counts) else 0,
            context_length=plan.context_length, num_predict=plan.num_predict,
            truncate=req.truncate is not False, tools=len(req.tools or []),
        )  # fmt: skip
    except EngineBadRequest as e:
        raise OllamaError(400, str(e)) from None

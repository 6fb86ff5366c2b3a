"""The /api/generate use case (and /v1/completions, which becomes it): a
validated request, its prompt rendered and tokenized, ready for the engine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..config import ModelEntry
from ..engine import Engine
from ..engine_types import EngineBadRequest
from ..errors import RAW_CONFLICT, OllamaError
from ..offload import off_loop
from ..protocol.ollama import GenerateRequest
from ..state import Runtime
from ..template_sandbox import PREPARE_THREAD
from ..translate import images as img
from ..translate import logprobs as lp
from ..translate import options as opt
from ..translate import prompt as tpl
from ..translate import responses as rsp
from ..translate import thinking as think
from ..translate.gotemplate import OllamaTemplate
from ..translate.keep_alive import is_unload
from .common import LoadReply, Prepared, engine_of, model_template, resolve_model
from .prepare import Request, check_common, finish_prepare, place_images, with_reasoning


def prepare_generate(
    rt: Runtime, req: GenerateRequest, label: str | None = None
) -> Prepared | LoadReply:
    """A Prepared request, or the finished reply for an empty (load) prompt."""
    received = time.monotonic_ns()
    logprobs = lp.requested(req.logprobs, req.top_logprobs)  # first, as Ollama
    entry = resolve_model(rt, req.model)
    model = req.model or entry.name
    images = check_common(rt, model, "generate", req.think, req.images)
    if req.raw and (req.template or req.system or req.context):
        raise OllamaError(400, RAW_CONFLICT)
    # Validate options and keep_alive even for a load request: bad input is a 400.
    opt.effective_options(entry.parameters, req.options)
    unload = is_unload(req.keep_alive)
    if not req.prompt:
        return LoadReply(rsp.load_response(model, unload, chat=False))
    engine = engine_of(rt)
    template = req.template or model_template(rt, entry)
    if req.suffix and not tpl.supports_suffix(template):
        raise OllamaError(400, f'"{model}" does not support insert')
    try:
        ids = _prompt_ids(engine, entry, req, template, images)
    except EngineBadRequest as e:
        raise OllamaError(400, str(e)) from None
    request = Request(
        "generate",
        model,
        req.options,
        req.format,
        req.stream,
        req.truncate,
        received,
        label,
        logprobs,
    )
    prep = finish_prepare(rt, entry, request, ids)
    prep.images = images or None
    if not req.raw:  # raw output is the model's, unparsed (as Ollama)
        with_reasoning(rt, prep, req.think)
    return prep


def _prompt_ids(
    engine: Engine, entry: ModelEntry, req: GenerateRequest, template: str, images: list[Any]
) -> list[int]:
    """The prompt's token ids: raw as sent, through the request's Go template,
    or through the (request's or model's) Jinja chat template."""
    if req.raw:
        # Raw prompts carry the model's image placeholders themselves.
        prompt = req.prompt or ""
        img.check_placeholders(prompt, len(images), engine.image_placeholder)
        return engine.encode(prompt, add_special_tokens=True)
    if (go := tpl.go_template(req.template or entry.template)) is not None:
        text = _go_prompt(engine, entry, req, go, len(images))
    else:
        text = _jinja_prompt(engine, entry, req, template, len(images))
    return list(req.context or []) + engine.encode(text, add_special_tokens=False)


def _go_prompt(
    engine: Engine, entry: ModelEntry, req: GenerateRequest, go: OllamaTemplate, images: int
) -> str:
    """The request's or the Modelfile's TEMPLATE in Ollama's Go syntax
    (translate/gotemplate), fed what Ollama feeds it."""
    prompt = req.prompt or ""
    if images:  # a Go template takes text: placeholders before the prompt
        [user] = img.place_images([{"content": prompt}], [images], False, engine.image_placeholder)
        prompt = user["content"]
    history = [m.model_dump() for m in entry.messages]
    messages = tpl.generate_messages(
        prompt, req.system, entry.system, history, with_history=not req.context
    )
    return tpl.render_go_generate(go, messages, prompt, req.suffix, req.think)


def _jinja_prompt(
    engine: Engine, entry: ModelEntry, req: GenerateRequest, template: str, images: int
) -> str:
    messages = tpl.generate_messages(
        req.prompt or "",
        req.system,
        entry.system,
        [m.model_dump() for m in entry.messages],
        with_history=not req.context,
    )
    # The images belong to the prompt: the last (user) message.
    counts = [0] * (len(messages) - 1) + [images]
    messages = place_images(engine, template, messages, counts)
    extra = think.template_variables(req.think)
    if req.suffix:
        extra["suffix"] = req.suffix
    # A request's own Jinja is untrusted code: the bounded sandbox.
    jinja = req.template or entry.template
    return engine.render_chat(messages, template=jinja, untrusted=bool(req.template), **extra)


async def prepare_generate_off_loop(
    rt: Runtime, req: GenerateRequest, label: str | None = None
) -> Prepared | LoadReply:
    """prepare_generate; on the template thread when the request brings its own
    Jinja template: its render waits on the sandbox process (up to its time
    bound), which must never hold the event loop."""
    if req.template and tpl.is_jinja(req.template):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(PREPARE_THREAD, prepare_generate, rt, req, label)
    # Tokenizing, images and schemas: the prepare pool (offload.py).
    return await off_loop(prepare_generate, rt, req, label)

"""Generation use-cases between the routers and the engine: validate a
request, build its prompt and sampling parameters, run it under admission
control, and turn engine output into Ollama chunks (with metrics)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from .admission import Slot
from .config import ModelEntry
from .engine import Engine, EngineBadRequest
from .errors import MODEL_REQUIRED, RAW_CONFLICT, OllamaError, model_not_found
from .protocol.ollama import ChatRequest, GenerateRequest
from .state import Runtime
from .translate import images as img
from .translate import options as opt
from .translate import prompt as tpl
from .translate import responses as rsp
from .translate import thinking as think
from .translate import tool_calls
from .translate.keep_alive import is_unload
from .translate.tool_stream import Call

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A validated generation request, ready for the engine."""

    endpoint: str  # "generate" | "chat"
    model: str  # the name as the client sent it (echoed in responses, as Ollama does)
    prompt_ids: list[int]
    params: Any  # vllm SamplingParams (opaque above engine.py)
    stream: bool
    return_context: bool
    adapter: str | None
    received_ns: int
    # Metrics `endpoint` label: the HTTP path the request came in on.
    label: str = ""
    # Tools offered to the model and the parser that finds calls in its output
    # (both set only when the request has tools and the model has a parser).
    tools: list[dict[str, Any]] | None = None
    tool_parser: str | None = None
    # vLLM reasoning parser that splits the trace from the answer (None: no
    # split), and whether the client asked to drop the trace (`think: false`).
    reasoning_parser: str | None = None
    hide_thinking: bool = False
    # Decoded images (PIL) for a multimodal model; the prompt holds their placeholders.
    images: list[Any] | None = None


def resolve_model(rt: Runtime, name: str | None) -> ModelEntry:
    if not name or not name.strip():
        raise OllamaError(400, MODEL_REQUIRED)
    entry = rt.registry.lookup(name)
    if entry is None:
        raise model_not_found(name)
    return entry


def engine_of(rt: Runtime) -> Engine:
    if rt.engine is None:
        raise OllamaError(503, "model is still loading, please try again")
    return rt.engine


def is_multimodal(rt: Runtime) -> bool:
    """The model takes images (/api/show's "vision")."""
    return rt.engine is not None and rt.engine.max_images > 0


def _template(rt: Runtime, entry: ModelEntry) -> str:
    return entry.template or (rt.engine.chat_template if rt.engine else None) or ""


def _check_common(
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
    if len(images) > limit:
        # Checked here, not by vLLM, so a streamed request gets its 400 too.
        raise OllamaError(400, f"too many images: {len(images)}, at most {limit} per request")
    # Decoded before anything else runs: bad data is a 400 even for a load request.
    return img.decode_images(images)


def _place_images(
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


def _finish_prepare(
    rt: Runtime,
    entry: ModelEntry,
    endpoint: str,
    model: str,
    ids: list[int],
    options: dict[str, Any] | None,
    fmt: Any,
    stream: bool | None,
    truncate: bool | None,
    received_ns: int,
    label: str | None,
) -> Prepared:
    engine = engine_of(rt)
    effective = opt.effective_options(entry.parameters, options)
    plan = opt.plan_sampling(effective, engine.max_model_len)
    ids, max_tokens = opt.fit_prompt(ids, plan, truncate is not False)
    try:
        params = engine.sampling_params(plan.kwargs, max_tokens, fmt or None)
    except EngineBadRequest as e:
        raise OllamaError(400, str(e)) from None
    return Prepared(
        endpoint=endpoint,
        model=model,
        prompt_ids=ids,
        params=params,
        stream=stream is not False,
        return_context=endpoint == "generate",
        adapter=entry.adapter.path if entry.adapter else None,
        received_ns=received_ns,
        label=label or f"/api/{endpoint}",
    )


def prepare_generate(
    rt: Runtime, req: GenerateRequest, label: str | None = None
) -> Prepared | dict[str, Any]:
    """A Prepared request, or the finished reply for an empty (load) prompt."""
    received = time.monotonic_ns()
    entry = resolve_model(rt, req.model)
    model = req.model or entry.name
    images = _check_common(rt, model, "generate", req.think, req.images)
    if req.raw and (req.template or req.system or req.context):
        raise OllamaError(400, RAW_CONFLICT)
    # Validate options and keep_alive even for a load request: bad input is a 400.
    opt.effective_options(entry.parameters, req.options)
    unload = is_unload(req.keep_alive)
    if not req.prompt:
        return rsp.load_response(model, unload, chat=False)
    engine = engine_of(rt)
    template = req.template or _template(rt, entry)
    if req.suffix and not tpl.supports_suffix(template):
        raise OllamaError(400, f'"{model}" does not support insert')
    try:
        if req.raw:
            # Raw prompts carry the model's image placeholders themselves.
            img.check_placeholders(req.prompt, len(images), engine.image_placeholder)
            ids = engine.encode(req.prompt, add_special_tokens=True)
        else:
            if req.template and not tpl.is_jinja(req.template):
                prompt = req.prompt
                if images:  # a Go template takes text: placeholders before the prompt
                    [user] = img.place_images(
                        [{"content": prompt}], [len(images)], False, engine.image_placeholder
                    )
                    prompt = user["content"]
                text = tpl.render_go_template(
                    req.template,
                    {
                        "System": req.system or entry.system or "",
                        "Prompt": prompt,
                        "Suffix": req.suffix or "",
                    },
                )
            else:
                messages = tpl.generate_messages(
                    req.prompt,
                    req.system,
                    entry.system,
                    [m.model_dump() for m in entry.messages],
                    with_history=not req.context,
                )
                # The images belong to the prompt: the last (user) message.
                counts = [0] * (len(messages) - 1) + [len(images)]
                messages = _place_images(engine, template, messages, counts)
                extra = think.template_variables(req.think)
                if req.suffix:
                    extra["suffix"] = req.suffix
                jinja = req.template or entry.template
                text = engine.render_chat(messages, template=jinja, **extra)
            ids = list(req.context or []) + engine.encode(text, add_special_tokens=False)
    except EngineBadRequest as e:
        raise OllamaError(400, str(e)) from None
    prep = _finish_prepare(
        rt, entry, "generate", model, ids, req.options, req.format, req.stream, req.truncate,
        received, label,
    )  # fmt: skip
    prep.images = images or None
    if not req.raw:  # raw output is the model's, unparsed (as Ollama)
        _with_reasoning(rt, prep, req.think)
    return prep


def prepare_chat(
    rt: Runtime, req: ChatRequest, label: str | None = None
) -> Prepared | dict[str, Any]:
    received = time.monotonic_ns()
    entry = resolve_model(rt, req.model)
    model = req.model or entry.name
    images = _check_common(
        rt, model, "chat", req.think, [i for m in req.messages or [] for i in (m.images or [])]
    )
    opt.effective_options(entry.parameters, req.options)
    unload = is_unload(req.keep_alive)
    if not req.messages:
        return rsp.load_response(model, unload, chat=True)
    engine = engine_of(rt)
    if req.tools and not tpl.supports_tools(_template(rt, entry)):
        raise OllamaError(400, f"{model} does not support tools")
    messages = tpl.chat_messages(
        req.messages, entry.system, [m.model_dump() for m in entry.messages]
    )
    # The request's messages come last (after the model's SYSTEM and MESSAGEs).
    counts = [len(m.images or []) for m in req.messages]
    counts = [0] * (len(messages) - len(counts)) + counts
    messages = _place_images(engine, _template(rt, entry), messages, counts)
    try:
        text = engine.render_chat(
            messages,
            template=entry.template,
            tools=req.tools,
            **think.template_variables(req.think),
        )
    except EngineBadRequest as e:
        raise OllamaError(400, str(e)) from None
    ids = engine.encode(text, add_special_tokens=False)
    prep = _finish_prepare(
        rt, entry, "chat", model, ids, req.options, req.format, req.stream, req.truncate,
        received, label,
    )  # fmt: skip
    prep.images = images or None
    if req.tools and rt.config.engine.tool_call_parser:
        prep.tools = req.tools
        prep.tool_parser = rt.config.engine.tool_call_parser
    _with_reasoning(rt, prep, req.think)
    return prep


def _with_reasoning(rt: Runtime, prep: Prepared, think_value: Any) -> None:
    prep.reasoning_parser = rt.config.engine.reasoning_parser
    prep.hide_thinking = think.hides_thinking(think_value)


class Outcome:
    """How a generation ended, read by the access-log/metrics middleware."""

    def __init__(self) -> None:
        self.aborted = False
        self.error: str | None = None


async def run(
    rt: Runtime, prep: Prepared, ticket: Slot, request_id: str, outcome: Outcome
) -> AsyncGenerator[dict[str, Any], None]:
    """Run one admitted request; yield Ollama chunks (streaming) or just the
    final object (non-streaming). Always releases the admission ticket; closing
    this iterator early (client gone) aborts the engine request."""
    engine = engine_of(rt)
    m = rt.metrics
    # Same endpoint label as the middleware's request counters.
    labels = {"model": rt.model_label, "endpoint": prep.label}
    # Labelled children looked up once: the per-token path only observes.
    ttft, itl = m.ttft.labels(**labels), m.itl.labels(**labels)
    # Streamed output goes out as it comes. With tools to parse, the answer
    # (not the reasoning trace) goes through a streaming tool parser that
    # tells calls from content: content streams, each call is sent once whole.
    stream_text = prep.stream
    chat = prep.endpoint == "chat"
    splitter = None
    if stream_text and prep.reasoning_parser:
        splitter = think.StreamSplitter(*engine.reasoning_markers(prep.reasoning_parser))
    calls_stream = None
    if stream_text and chat and prep.tool_parser and prep.tools:
        calls_stream = engine.tool_call_stream(prep.tool_parser, prep.tools, prep.prompt_ids)
    sent_calls = 0  # calls already streamed: `index` counts across the message

    def chunk(text: str, thinking: str = "", found: list[Call] | None = None) -> dict[str, Any]:
        nonlocal sent_calls
        thinking = "" if prep.hide_thinking else thinking
        if chat:
            calls = None
            if found:
                calls = tool_calls.ollama_tool_calls([c.astuple() for c in found], sent_calls)
                sent_calls += len(calls)
            return rsp.chat_chunk(prep.model, text, calls, thinking)
        return rsp.generate_chunk(prep.model, text, thinking)

    texts: list[str] = []
    out_ids: list[int] = []
    last = None
    first_at: float | None = None
    prev_at = 0.0
    try:
        await ticket.wait()
        async for d in engine.generate(
            prep.prompt_ids, prep.params, request_id, prep.adapter, prep.images
        ):
            now = time.monotonic()
            if d.token_ids:
                if rt.admission is not None:
                    rt.admission.progress()
                if first_at is None:
                    first_at = now
                    ttft.observe(now - prep.received_ns / 1e9)
                else:
                    gap = (now - prev_at) / len(d.token_ids)
                    for _ in d.token_ids:
                        itl.observe(gap)
                prev_at = now
            out_ids.extend(d.token_ids)
            if stream_text and (d.text or calls_stream is not None):
                thinking, content = splitter.feed(d.text) if splitter else ("", d.text)
                completed: list[Call] = []
                # The tool parser sees the answer's deltas (with their token
                # ids, even when they decode to no text yet: some parsers go
                # by token ids), never the trace's, and always the last one.
                answering = splitter is None or not splitter.in_thinking
                fed = content or d.finished or (answering and d.token_ids)
                if calls_stream is not None and fed:
                    ids = d.token_ids if answering else []
                    content, completed = calls_stream.feed(content, ids, d.finished)
                if content or completed or (thinking and not prep.hide_thinking):
                    yield chunk(content, thinking, completed)
            else:
                texts.append(d.text)
            last = d
    except BaseException as e:
        if isinstance(e, EngineBadRequest):
            outcome.error = str(e)
            raise OllamaError(400, str(e)) from None
        if not isinstance(e, Exception):  # CancelledError / GeneratorExit: client gone
            outcome.aborted = True
            m.aborted.labels(reason="client_disconnect", **labels).inc()
        else:
            outcome.error = f"{type(e).__name__}: {e}"
        raise
    finally:
        ticket.release()
    if last is None:
        raise OllamaError(500, "engine returned no output")
    if last.finish_reason == "abort":
        # Aborted by us (drain timeout), not by the client: say so on the wire.
        outcome.error = "aborted"
        raise OllamaError(503, "request aborted: the server is shutting down")
    # The engine's count: with images, placeholders expanded into image tokens.
    prompt_tokens = last.prompt_tokens or len(prep.prompt_ids)
    m.prompt_tokens.labels(**labels).inc(prompt_tokens)
    m.output_tokens.labels(**labels).inc(len(out_ids))
    timings = rsp.Timings(
        received_ns=prep.received_ns,
        finished_ns=time.monotonic_ns(),
        queued_ts=last.queued_ts,
        scheduled_ts=last.scheduled_ts,
        first_token_ts=last.first_token_ts,
        last_token_ts=last.last_token_ts,
        prompt_tokens=prompt_tokens,
        output_tokens=len(out_ids),
    )
    metrics = rsp.final_metrics(timings)
    reason = rsp.done_reason(last.finish_reason)
    text = "".join(texts) if not stream_text else ""
    thinking = ""
    if splitter is not None:
        thinking, text = splitter.flush()  # a held-back partial marker, if any
    elif prep.reasoning_parser and text:
        thinking, text = engine.split_reasoning(prep.reasoning_parser, text)
    if prep.hide_thinking:
        thinking = ""
    if chat:
        calls: list[dict[str, Any]] = []
        if calls_stream is not None:  # what the parser held back to the end
            rest, remaining = calls_stream.finish()
            text += rest
            found = [c.astuple() for c in remaining]
            calls = tool_calls.ollama_tool_calls(found, sent_calls)
        elif prep.tool_parser and prep.tools:
            left, found = engine.parse_tool_calls(prep.tool_parser, text, prep.tools)
            text, calls = left or "", tool_calls.ollama_tool_calls(found)
        if prep.stream and (text or calls or thinking):  # what was held back, as one chunk
            yield rsp.chat_chunk(prep.model, text, calls, thinking)
            text, calls, thinking = "", [], ""
        yield rsp.chat_final(prep.model, text, reason, metrics, calls, thinking)
    else:
        context = prep.prompt_ids + out_ids if prep.return_context else None
        if prep.stream and (text or thinking):
            yield rsp.generate_chunk(prep.model, text, thinking)
            text, thinking = "", ""
        yield rsp.generate_final(prep.model, text, reason, metrics, context, thinking)

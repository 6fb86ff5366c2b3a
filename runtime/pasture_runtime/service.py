"""Generation use-cases between the routers and the engine: validate a
request, build its prompt and sampling parameters, run it under admission
control, and turn engine output into Ollama chunks (with metrics)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from .admission import Slot
from .config import ModelEntry
from .engine import Engine, EngineBadRequest
from .errors import MODEL_REQUIRED, RAW_CONFLICT, OllamaError, model_not_found
from .offload import off_loop
from .protocol.ollama import ChatRequest, GenerateRequest
from .state import Runtime
from .template_sandbox import PREPARE_THREAD
from .translate import fit, tool_calls
from .translate import images as img
from .translate import options as opt
from .translate import prompt as tpl
from .translate import responses as rsp
from .translate import thinking as think
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
    if endpoint != "chat":  # a chat's limit counts the images its fitted prompt keeps
        _check_image_count(rt, len(images))
    # Decoded before anything else runs: bad data is a 400 even for a load request.
    return img.decode_images(images)


def _check_image_count(rt: Runtime, count: int) -> None:
    # Checked here, not by vLLM, so a streamed request gets its 400 too.
    limit = rt.engine.max_images if rt.engine is not None else count
    if count > limit:
        raise OllamaError(400, f"too many images: {count}, at most {limit} per request")


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
    given = len(ids)
    ids, max_tokens = opt.fit_prompt(ids, plan, truncate is not False)
    if len(ids) < given:
        _note_fitted(
            rt, label or f"/api/{endpoint}", "tokens_cut", given - len(ids), len(ids), plan
        )
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
            if (go := tpl.go_template(req.template or entry.template)) is not None:
                prompt = req.prompt
                if images:  # a Go template takes text: placeholders before the prompt
                    [user] = img.place_images(
                        [{"content": prompt}], [len(images)], False, engine.image_placeholder
                    )
                    prompt = user["content"]
                history = [m.model_dump() for m in entry.messages]
                messages = tpl.generate_messages(
                    prompt, req.system, entry.system, history, with_history=not req.context
                )
                text = tpl.render_go_generate(go, messages, prompt, req.suffix, req.think)
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
                # A request's own Jinja is untrusted code: the bounded sandbox.
                untrusted = bool(req.template)
                text = engine.render_chat(messages, template=jinja, untrusted=untrusted, **extra)
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


async def prepare_generate_off_loop(
    rt: Runtime, req: GenerateRequest, label: str | None = None
) -> Prepared | dict[str, Any]:
    """prepare_generate; on the template thread when the request brings its own
    Jinja template: its render waits on the sandbox process (up to its time
    bound), which must never hold the event loop."""
    if req.template and tpl.is_jinja(req.template):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(PREPARE_THREAD, prepare_generate, rt, req, label)
    # Tokenizing, images and schemas: the prepare pool (offload.py).
    return await off_loop(prepare_generate, rt, req, label)


def prepare_chat(
    rt: Runtime, req: ChatRequest, label: str | None = None
) -> Prepared | dict[str, Any]:
    received = time.monotonic_ns()
    entry = resolve_model(rt, req.model)
    model = req.model or entry.name
    images = _check_common(
        rt, model, "chat", req.think, [i for m in req.messages or [] for i in (m.images or [])]
    )
    effective = opt.effective_options(entry.parameters, req.options)
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
    plan = opt.plan_sampling(effective, engine.max_model_len)
    chat = _fit_chat(rt, entry, req, messages, counts, plan)
    ids = chat.ids
    if chat.dropped:
        _note_fitted(rt, label or "/api/chat", "messages_dropped", chat.dropped, len(ids), plan)
    prep = _finish_prepare(
        rt, entry, "chat", model, ids, req.options, req.format, req.stream, req.truncate,
        received, label,
    )  # fmt: skip
    # The images of the messages kept, in order (those of dropped ones go with them).
    starts = list(itertools.accumulate(counts, initial=0))
    kept_images = [im for i in chat.kept for im in images[starts[i] : starts[i + 1]]]
    _check_image_count(rt, len(kept_images))
    prep.images = kept_images or None
    if req.tools and rt.config.engine.tool_call_parser:
        prep.tools = req.tools
        prep.tool_parser = rt.config.engine.tool_call_parser
    _with_reasoning(rt, prep, req.think)
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
    template = _template(rt, entry)
    variables = think.template_variables(req.think)
    go = tpl.go_template(entry.template)  # a Modelfile TEMPLATE in Ollama's syntax

    def render(kept: tuple[int, ...], with_tools: bool) -> str:
        chosen = _place_images(
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


def _note_fitted(
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
    # Counted as tokens stream (not at the end): the stall alert and dashboards
    # see a long stream progressing.
    produced = m.output_tokens.labels(**labels)
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
                produced.inc(len(d.token_ids))
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

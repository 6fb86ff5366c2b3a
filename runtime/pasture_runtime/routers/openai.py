"""OpenAI-compatible API (/v1). Each request is translated into the Ollama
request it means (translate/openai_request.py) and run by the same use cases, so
names, variants, parameters, admission and metrics are the Ollama side's."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..encoders import SSE, SSE_DONE, sse_event
from ..errors import OllamaError, internal_failure
from ..identity import may_see
from ..logs import request_id_var
from ..names import display_name
from ..offload import off_loop
from ..protocol import ollama as p
from ..protocol import openai as o
from ..state import Runtime
from ..translate import embed as emb
from ..translate import openai_request as to_ollama
from ..translate import openai_response as to_openai
from ..usecases import embed as embedding
from ..usecases.chat import prepare_chat
from ..usecases.common import LoadReply, Prepared, resolve_model
from ..usecases.generate import prepare_generate
from ..usecases.show import listed_names
from . import generation as gen
from .body import M, read_body
from .deps import runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")


def _new_id(prefix: str) -> str:
    """A response id (`chatcmpl-...`, `cmpl-...`): random, as OpenAI's."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _now() -> int:
    """A response's `created`: Unix seconds."""
    return int(time.time())


def _doc(model: type[Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


async def _body(request: Request, model: type[M]) -> M:
    return await read_body(request, model, runtime(request).config.server.max_body_bytes)


def _prepared(result: Prepared | LoadReply) -> Prepared:
    # An empty prompt/messages list is Ollama's "load" request; OpenAI has none.
    if isinstance(result, LoadReply):
        raise OllamaError(400, "messages must not be empty")
    return result


async def _sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield sse_event(event)
    except OllamaError as e:
        # Headers are sent: the error is an event, then the stream ends as usual.
        yield sse_event(to_openai.error_body(e.status, e.message, e.code))
    except Exception:
        log.exception("generation failed mid-stream")
        yield sse_event(to_openai.error_body(500, internal_failure(request_id_var.get())))
    yield SSE_DONE


@router.post("/chat/completions", openapi_extra=_doc(o.ChatCompletionRequest))
async def chat_completions(request: Request) -> Response:
    rt = runtime(request)
    req = await _body(request, o.ChatCompletionRequest)
    body = p.ChatRequest.model_validate(to_ollama.chat_request(req))
    prep = _prepared(await off_loop(prepare_chat, rt, body, "/v1/chat/completions"))
    model, ident, created = req.model or "", _new_id("chatcmpl"), _now()
    ticket, chunks = gen.admit(request, prep)
    if not prep.stream:
        final = await gen.collect(request, gen.final_chunk(chunks), [ticket])
        if final is None:
            return Response(status_code=499)
        return JSONResponse(to_openai.chat_completion(ident, model, created, final))
    usage = bool(req.stream_options and req.stream_options.include_usage)

    async def events() -> AsyncIterator[dict[str, Any]]:
        role = {"role": "assistant", "content": ""}
        yield to_openai.chat_chunk(ident, model, created, role, with_usage=usage)
        called = False
        async for chunk in chunks:
            logprobs = chunk.get("logprobs")
            if not chunk.get("done"):
                delta = to_openai.chat_delta(chunk)
                called = called or "tool_calls" in delta
                # Reasoning and answer in one chunk go as two (as Ollama's
                # ToStreamChunks); logprobs ride on the first.
                for part in to_openai.split_delta(delta) if delta or logprobs else []:
                    yield to_openai.chat_chunk(ident, model, created, part, None, usage, logprobs)
                    logprobs = None
                continue
            finish = to_openai.finish_reason(chunk.get("done_reason"), called)
            yield to_openai.chat_chunk(ident, model, created, {}, finish, usage, logprobs)
            if usage:
                use = to_openai.usage(chunk)
                yield to_openai.usage_chunk(ident, "chat.completion.chunk", model, created, use)

    return gen.TicketStreamingResponse(_sse(events()), [ticket], SSE, chunks)


def _prepare_completions(rt: Runtime, req: o.CompletionRequest) -> list[Prepared]:
    """Every prompt of the list prepared (tokenized) before any is admitted."""
    preps = []
    for prompt in to_ollama.completion_prompts(req):
        body = p.GenerateRequest.model_validate(to_ollama.generate_request(req, prompt))
        preps.append(_prepared(prepare_generate(rt, body, label="/v1/completions")))
    return preps


@router.post("/completions", openapi_extra=_doc(o.CompletionRequest))
async def completions(request: Request) -> Response:
    rt = runtime(request)
    req = await _body(request, o.CompletionRequest)
    preps = await off_loop(_prepare_completions, rt, req)
    model, ident, created = req.model or "", _new_id("cmpl"), _now()
    if not req.stream:
        finals = await gen.finals(request, preps)
        if finals is None:
            return Response(status_code=499)
        return JSONResponse(to_openai.text_completion(ident, model, created, finals))
    usage = bool(req.stream_options and req.stream_options.include_usage)
    # Prompts of a list stream one after the other on one ticket, taken now:
    # a busy server answers 503 before the stream starts, never half-way.
    tickets, _ = gen.take(request)

    async def events() -> AsyncIterator[dict[str, Any]]:
        totals = []
        for index, prep in enumerate(preps):
            async with contextlib.aclosing(
                gen.chunks_on(request, prep, tickets[0].borrow())
            ) as chunks:
                async for chunk in chunks:
                    done = bool(chunk.get("done"))
                    finish = (
                        to_openai.finish_reason(chunk.get("done_reason"), False) if done else None
                    )
                    text = chunk.get("response") or ""
                    logprobs = chunk.get("logprobs")
                    if text or done or logprobs:
                        yield to_openai.text_chunk(
                            ident, model, created, index, text, finish, usage, logprobs
                        )
                    if done:
                        totals.append(to_openai.usage(chunk))
        if usage:
            yield to_openai.usage_chunk(
                ident, "text_completion", model, created, to_openai.sum_usage(totals)
            )

    return gen.TicketStreamingResponse(_sse(events()), tickets, SSE)


@router.post("/embeddings", openapi_extra=_doc(o.EmbeddingRequest))
async def embeddings(request: Request) -> Response:
    req = await _body(request, o.EmbeddingRequest)
    fmt = emb.encoding(req.encoding_format)
    rt = runtime(request)
    # Model first (404/400 capability), then the input (as Ollama's openai.go).
    resolve_model(rt, req.model)
    embedding.check_embedding_model(rt, req.model or "")
    inputs = emb.openai_inputs(req)
    job = await off_loop(
        embedding.prepare, rt, req.model, inputs, True, req.dimensions, None, "/v1/embeddings"
    )
    result = await gen.embed(request, job)
    if result is None:
        return Response(status_code=499)
    return JSONResponse(emb.embedding_list(job.model, result.vectors, fmt, result.prompt_tokens))


@router.get("/models")
async def models(request: Request) -> JSONResponse:
    rt = runtime(request)
    created = rt.started_ns // 1_000_000_000
    return JSONResponse(to_openai.model_list(listed_names(rt), created))


@router.get("/models/{model:path}")
async def model(request: Request, model: str) -> JSONResponse:
    rt = runtime(request)
    if rt.registry.lookup(model) is None or not may_see(model):  # the same 404 either way
        msg = f"The model `{model}` does not exist."
        raise OllamaError(404, msg, code="model_not_found")
    created = rt.started_ns // 1_000_000_000
    return JSONResponse(to_openai.model_object(display_name(model), created))

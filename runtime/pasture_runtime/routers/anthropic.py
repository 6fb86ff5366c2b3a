"""Anthropic Messages API (`POST /v1/messages`), as Ollama serves it: the
request becomes the Ollama chat it means (translate/anthropic_request.py)
and runs through the chat use case; errors are Anthropic's shape."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..encoders import SSE
from ..offload import off_loop
from ..protocol import anthropic as a
from ..translate import anthropic_response as out
from ..usecases.protocol_chat import prepare_messages
from . import generation as gen
from .body import read_body
from .deps import runtime
from .named_events import Event, named_sse, shaped_errors

router = APIRouter(prefix="/v1", route_class=shaped_errors(out.error_body))
_DOC = {"$ref": "#/components/schemas/MessagesRequest"}


def _failed(status: int, message: str) -> Event:
    return "error", out.error_body(status, message)


@router.post(
    "/messages",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _DOC}}}},
)
async def messages(request: Request) -> Response:
    rt = runtime(request)
    req = await read_body(request, a.MessagesRequest, rt.config.server.max_body_bytes)
    prep = await off_loop(prepare_messages, rt, req)
    ident, model = f"msg_{uuid.uuid4().hex[:24]}", req.model or ""
    ticket, chunks = gen.admit(request, prep)
    if not prep.stream:
        final = await gen.collect(request, gen.final_chunk(chunks), [ticket])
        if final is None:
            return Response(status_code=499)
        return JSONResponse(out.message(ident, model, final))
    converter = out.StreamConverter(ident, model, len(prep.prompt_ids))

    async def events() -> AsyncIterator[Event]:
        async for chunk in chunks:
            for event in converter.process(chunk):
                yield event

    return gen.TicketStreamingResponse(named_sse(events(), _failed), [ticket], SSE, chunks)

"""OpenAI Responses API (`POST /v1/responses`), stateless as Ollama serves
it: the request becomes the Ollama chat it means
(translate/responses_request.py) and runs through the chat use case."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..encoders import SSE
from ..offload import off_loop
from ..protocol import responses as r
from ..translate import responses_response as out
from ..translate.responses_stream import ResponsesStream
from ..usecases.protocol_chat import prepare_responses
from . import generation as gen
from .body import read_body
from .deps import runtime
from .named_events import Event, named_sse

router = APIRouter(prefix="/v1")
_DOC = {"$ref": "#/components/schemas/ResponsesRequest"}


@router.post(
    "/responses",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _DOC}}}},
)
async def responses(request: Request) -> Response:
    rt = runtime(request)
    req = await read_body(request, r.ResponsesRequest, rt.config.server.max_body_bytes)
    prep = await off_loop(prepare_responses, rt, req)
    ids = out.Ids(f"resp_{uuid.uuid4().hex[:24]}", int(time.time()))
    ticket, chunks = gen.admit(request, prep)
    if not prep.stream:
        final = await gen.collect(request, gen.final_chunk(chunks), [ticket])
        if final is None:
            return Response(status_code=499)
        return JSONResponse(out.response(req, ids, final, int(time.time())))
    stream = ResponsesStream(req, ids)

    async def events() -> AsyncIterator[Event]:
        async for chunk in chunks:
            for event in stream.process(chunk, int(time.time())):
                yield event

    return gen.TicketStreamingResponse(named_sse(events(), stream.failed), [ticket], SSE, chunks)

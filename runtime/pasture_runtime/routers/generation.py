"""Running a prepared generation request from a router: admission, the
engine request id, streaming responses that always release their tickets,
and non-streaming collection that aborts when the client leaves. Shared by
the Ollama and OpenAI routers so both get the same admission and metrics."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .. import embedding, service
from ..admission import Ticket
from ..errors import OllamaError
from ..state import Runtime
from .body import ClientGone, until_disconnect

Chunks = AsyncGenerator[dict[str, Any], None]


class TicketStreamingResponse(StreamingResponse):
    """A stream that always releases its admission tickets, even when the
    client leaves before the first byte (the generator may never start)."""

    def __init__(self, content: AsyncIterator[bytes], tickets: list[Ticket], media_type: str):
        super().__init__(content, media_type=media_type)
        self.tickets = tickets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            for ticket in self.tickets:
                ticket.release()


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def enter(request: Request) -> tuple[Ticket, str, service.Outcome]:
    """Take an admission ticket (or raise the busy 503); with it the engine
    request id and the outcome the access log reads."""
    rt = runtime(request)
    if rt.admission is None:
        raise OllamaError(503, "model is still loading, please try again")
    try:
        ticket = rt.admission.enter()
    except OllamaError:
        rt.metrics.rejected.labels(model=rt.model_label, reason="queue_full").inc()
        raise
    outcome = getattr(request.state, "outcome", None) or service.Outcome()
    request.state.outcome = outcome
    rid = rt.engine.new_request_id(request.state.request_id) if rt.engine else "none"
    return ticket, rid, outcome


def admit(request: Request, prepared: service.Prepared) -> tuple[Ticket, Chunks]:
    """Admit one request (or raise the busy 503) and return its chunk stream."""
    ticket, rid, outcome = enter(request)
    return ticket, service.run(runtime(request), prepared, ticket, rid, outcome)


async def final_chunk(chunks: Chunks) -> dict[str, Any]:
    final: dict[str, Any] = {}
    try:
        async for chunk in chunks:
            final = chunk
    finally:
        await chunks.aclose()
    return final


async def collect(request: Request, work: Any, tickets: list[Ticket]) -> Any | None:
    """Await `work` (e.g. final_chunk(...)); None when the client went away
    first (its engine requests are aborted; the caller answers 499)."""
    try:
        return await until_disconnect(request, work)
    except ClientGone:
        request.state.outcome.aborted = True
        return None
    finally:
        for ticket in tickets:
            ticket.release()


async def embed(request: Request, job: embedding.EmbedJob) -> embedding.EmbedResult | None:
    """Run an embedding job under admission control, as generation runs;
    None when the client went away first (the caller answers 499)."""
    ticket, rid, outcome = enter(request)
    work = embedding.run(runtime(request), job, ticket, rid, outcome)
    result: embedding.EmbedResult | None = await collect(request, work, [ticket])
    return result

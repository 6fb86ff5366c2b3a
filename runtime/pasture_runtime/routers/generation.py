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

from .. import fanout
from ..admission import Slot, Ticket
from ..errors import OllamaError
from ..usecases import embed as embedding
from ..usecases.common import LOADING, Outcome, Prepared, new_request_id
from ..usecases.stream import run
from .body import ClientGone, until_disconnect
from .deps import runtime

Chunks = AsyncGenerator[dict[str, Any], None]


class TicketStreamingResponse(StreamingResponse):
    """A stream that always releases its admission tickets, even when the
    client leaves before the first byte (the generator may never start).
    `chunks` (the engine-side stream the content reads) is closed first, so
    its engine request has ended when its ticket is released."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        tickets: list[Ticket],
        media_type: str,
        chunks: Chunks | None = None,
    ):
        super().__init__(content, media_type=media_type)
        self.tickets = tickets
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Close the streams first (their engine requests end), then release.
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            if self.chunks is not None:
                await self.chunks.aclose()
            for ticket in self.tickets:
                ticket.release()


def take(request: Request, count: int = 1) -> tuple[list[Ticket], Outcome]:
    """Take `count` admission tickets at once (or raise the busy 503, holding
    none); with them the outcome the access log reads."""
    rt = runtime(request)
    if rt.admission is None:
        raise OllamaError(503, LOADING)
    try:
        tickets = rt.admission.enter_many(count)
    except OllamaError:
        rt.metrics.rejected.labels(model=rt.model_label, reason="queue_full").inc()
        raise
    outcome = getattr(request.state, "outcome", None) or Outcome()
    request.state.outcome = outcome
    return tickets, outcome


def request_id(request: Request) -> str:
    """A new engine request id (one per engine request, even within a list)."""
    return new_request_id(runtime(request), request.state.request_id)


def list_width(request: Request, count: int) -> int:
    rt = runtime(request)
    if rt.admission is None:
        raise OllamaError(503, LOADING)
    return fanout.width(rt.admission, count)


def admit(request: Request, prepared: Prepared) -> tuple[Ticket, Chunks]:
    """Admit one request (or raise the busy 503) and return its chunk stream."""
    [ticket], outcome = take(request)
    return ticket, run(runtime(request), prepared, ticket, request_id(request), outcome)


def chunks_on(request: Request, prepared: Prepared, slot: Slot) -> Chunks:
    """The chunk stream of one prompt of a list, run on `slot` (a ticket the
    list already holds: see take)."""
    outcome: Outcome = request.state.outcome
    return run(runtime(request), prepared, slot, request_id(request), outcome)


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


async def finals(request: Request, preps: list[Prepared]) -> list[dict[str, Any]] | None:
    """The final chunks of a list of prompts, not streamed: as many tickets
    as prompts can run at once (all or none: the busy 503), each running the
    list's prompts one after another; the first failure aborts the others.
    None when the client went away first."""
    tickets, _ = take(request, list_width(request, len(preps)))

    async def one(i: int, slot: Slot) -> dict[str, Any]:
        return await final_chunk(chunks_on(request, preps[i], slot))

    result: list[dict[str, Any]] | None = await collect(
        request, fanout.on_tickets(tickets, len(preps), one), tickets
    )
    return result


async def embed(request: Request, job: embedding.EmbedJob) -> embedding.EmbedResult | None:
    """Run an embedding job under admission control, one ticket per engine
    request as for generation; None when the client went away first (the
    caller answers 499)."""
    tickets, outcome = take(request, list_width(request, len(job.inputs)))
    work = embedding.run(runtime(request), job, tickets, request_id(request), outcome)
    result: embedding.EmbedResult | None = await collect(request, work, tickets)
    return result

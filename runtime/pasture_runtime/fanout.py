"""Running the items of a list request (prompts of /v1/completions, inputs of
an embedding batch) as one engine request each, under admission tickets.

The rule everywhere: one engine request <=> one ticket. A list of N items
holds k <= N tickets; each ticket runs items one after another, so at most k
engine requests run at once, and a ticket is released (once) when its last
item ended. The first item that fails cancels the others (aborting their
engine requests) before the failure is raised: nothing keeps running with
its ticket gone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .admission import Admission, Slot, Ticket

T = TypeVar("T")


def width(admission: Admission, count: int) -> int:
    """Tickets a list of `count` items takes: one per item, at most the
    running slots (more would only queue behind its own items)."""
    return min(count, admission.max_running)


async def all_or_cancel(coros: list[Coroutine[Any, Any, Any]]) -> None:
    """Await every coroutine; on the first failure (or when cancelled) cancel
    the rest and wait until they have unwound, then raise that failure."""
    try:
        async with asyncio.TaskGroup() as group:
            for coro in coros:
                group.create_task(coro)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def on_tickets(
    tickets: list[Ticket], count: int, job: Callable[[int, Slot], Awaitable[T]]
) -> list[T]:
    """`job(i, slot)` for every i < count, in order of i across the tickets'
    workers; the results in item order. Every ticket is released on return,
    on failure and on cancellation."""
    results: dict[int, T] = {}
    todo = iter(range(count))  # shared: a free worker takes the next item

    async def worker(ticket: Ticket) -> None:
        try:
            for i in todo:
                results[i] = await job(i, ticket.borrow())
        finally:
            ticket.release()

    try:
        await all_or_cancel([worker(t) for t in tickets])
    finally:
        for ticket in tickets:  # workers never started (cancelled at once)
            ticket.release()
    return [results[i] for i in range(count)]

"""Admission at the gateway: the caller's rate limits (requests and tokens per
minute, per key and per tenant) and, when a model is saturated, a fair queue
per ModelDeployment. Saturated means this gateway already has its share of
the model's running slots in flight (ready replicas x the runtime's
maxRunning, divided among the ready gateway replicas); below that a request
passes with two dict reads and an add (nothing measurable), above it waits
and leaves by token-weighted fair share (routing/fairness.py)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ..identity import NO_LIMITS, Identity
from ..kube.peers import GatewayReplicas
from ..metrics import GatewayMetrics
from ..protocol.errors import ErrorReply
from ..protocol.limit_refusals import queue_full, rate_limited
from ..routing.fairness import FairQueue
from ..routing.limits import RateLimiter, Subject
from ..routing.objects import Deployment

PROMPT_BYTES_PER_TOKEN = 4  # a dispatch is charged this estimate until the engine's counts come


@lru_cache(maxsize=4096)
def subjects(identity: Identity) -> tuple[Subject, ...]:
    """The limited parties a caller counts against (none for unlimited keys)."""
    out = []
    for name, limits in (
        (f"key:{identity.key_id}", identity.limits),
        (f"tenant:{identity.tenant}", identity.tenant_limits),
    ):
        if limits.requests_per_minute is not None or limits.tokens_per_minute is not None:
            out.append(Subject(name, limits.requests_per_minute, limits.tokens_per_minute))
    return tuple(out)


def priority(identity: Identity) -> int:
    own = identity.limits.priority
    return own if own != NO_LIMITS.priority else identity.tenant_limits.priority


@dataclass(eq=False, slots=True)
class Ticket:
    """One request admitted to a model's slots; left exactly once."""

    deployment: str
    tenant: str
    estimate: int  # prompt tokens charged at dispatch, corrected at the end
    gated: bool
    left: bool = False
    turn: asyncio.Future[None] | None = None  # set while it waits in the fair queue


class Admission:
    def __init__(
        self,
        replicas: GatewayReplicas,
        fair: bool = True,
        max_queued: int = 256,
        clock: Callable[[], float] = time.monotonic,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.replicas = replicas
        self.fair = fair
        self.max_queued = max_queued
        self.clock = clock
        self.metrics = metrics
        self.limiter = RateLimiter()
        self.in_flight: dict[str, int] = {}
        self.capacity: dict[str, int] = {}
        self.queues: dict[str, FairQueue[Ticket]] = {}

    def check_limits(self, identity: Identity) -> ErrorReply | None:
        limited = subjects(identity)
        if not limited:
            return None
        refusal = self.limiter.admit(limited, self.replicas.share, self.clock())
        return rate_limited(refusal) if refusal else None

    def charge_limits(self, identity: Identity, usage: tuple[int, int]) -> None:
        limited = subjects(identity)
        if limited:
            self.limiter.charge(limited, sum(usage), self.replicas.share, self.clock())

    def _capacity(self, d: Deployment) -> int:
        slots = len(d.ready) * d.max_running * self.replicas.share
        self.capacity[d.key] = cap = max(1, math.ceil(slots))
        return cap

    async def enter(
        self, d: Deployment, identity: Identity, body_bytes: int, label: str = ""
    ) -> Ticket | ErrorReply:
        """A slot on the model now, or after waiting fairly; the busy 503 when full."""
        estimate = body_bytes // PROMPT_BYTES_PER_TOKEN
        if not self.fair:
            return Ticket(d.key, identity.tenant, estimate, gated=False)
        key = d.key
        ticket = Ticket(key, identity.tenant, estimate, gated=True)
        queue = self.queues.get(key)
        running = self.in_flight.get(key, 0)
        if running < self._capacity(d) and not queue:
            self.in_flight[key] = running + 1
            if queue is not None:
                queue.charge(identity.tenant, estimate, 0)
            return ticket
        if queue is None:
            queue = self.queues[key] = FairQueue(self.max_queued)
        ticket.turn = turn = asyncio.get_running_loop().create_future()
        if not queue.push(ticket, identity.tenant, priority(identity)):
            return queue_full()
        self._dispatch(key, queue)  # slots may have opened since (a replica came, a share grew)
        await self._wait(queue, ticket, turn, label)
        return ticket

    async def _wait(
        self, queue: FairQueue[Ticket], ticket: Ticket, turn: asyncio.Future[None], label: str
    ) -> None:
        t0 = time.monotonic()
        if self.metrics is not None:
            self.metrics.queued.labels(model=label).inc()
        try:
            await turn  # the slot is handed over by leave(): in_flight already counts it
        except asyncio.CancelledError:
            if not queue.remove(ticket) and turn.done() and not turn.cancelled():
                self.leave(ticket, (0, 0))  # handed a slot, then the client left
            raise
        finally:
            if self.metrics is not None:
                self.metrics.queued.labels(model=label).dec()
                self.metrics.queue_seconds.labels(model=label).observe(time.monotonic() - t0)

    def leave(self, ticket: Ticket, usage: tuple[int, int]) -> None:
        if ticket.left or not ticket.gated:
            return
        ticket.left = True
        key = ticket.deployment
        queue = self.queues.get(key)
        if queue is not None:
            prompt, output = usage
            queue.charge(ticket.tenant, max(prompt - ticket.estimate, 0), output)
        self.in_flight[key] -= 1
        self._dispatch(key, queue)
        if not self.in_flight.get(key):
            self.in_flight.pop(key, None)

    def _dispatch(self, key: str, queue: FairQueue[Ticket] | None) -> None:
        """Hand freed slots to the fairest waiters (charged their estimate now,
        so the next pick already sees it)."""
        if queue is None:
            return
        while self.in_flight.get(key, 0) < self.capacity.get(key, 1):
            nxt = queue.pop()
            if nxt is None:
                return
            ticket, tenant = nxt
            if ticket.turn is None or ticket.turn.done():  # its client left meanwhile
                continue
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            queue.charge(tenant, ticket.estimate, 0)
            ticket.turn.set_result(None)

    def waiting(self, key: str) -> int:
        queue = self.queues.get(key)
        return len(queue) if queue else 0

"""Admission at the gateway: the caller's rate limits (requests and tokens per
minute, per key and per tenant) and, per ModelDeployment, its running slots
shared fairly among tenants. This gateway's slots are its share of the
model's (ready replicas x the runtime's maxRunning, divided among the ready
gateway replicas). A request starts at once while a slot is free and its
tenant may take it (routing/slots.py: a tenant over its fair share of the
slots leaves headroom for a quiet tenant active recently); otherwise it waits
and leaves by token-weighted fair share (routing/fairness.py). Far from
saturation the share needs no look at the tenants (slots.surely_free): a few
dict operations a request."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from ..identity import NO_LIMITS, Identity
from ..kube.peers import GatewayReplicas
from ..metrics import GatewayMetrics
from ..protocol.errors import ErrorReply
from ..protocol.limit_refusals import queue_full, rate_limited
from ..routing.fairness import FairQueue
from ..routing.limits import RateLimiter, Subject
from ..routing.objects import Deployment
from ..routing.slots import SlotShare, active_tenants, may_start, surely_free

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
    priority: int = 0
    left: bool = False
    turn: asyncio.Future[None] | None = None  # set while it waits in the fair queue


@dataclass(eq=False, slots=True)
class ModelSlots:
    """One ModelDeployment's slots at this gateway: who holds them, who waits."""

    queue: FairQueue[Ticket]
    spec: SlotShare
    running: int = 0
    tenants: dict[str, int] = field(default_factory=dict)  # requests in flight per tenant
    seen: dict[str, tuple[float, int]] = field(default_factory=dict)  # last request, priority

    def start(self, ticket: Ticket) -> None:
        self.running += 1
        self.tenants[ticket.tenant] = self.tenants.get(ticket.tenant, 0) + 1
        self.queue.charge(ticket.tenant, ticket.estimate, 0)

    def end(self, ticket: Ticket, now: float) -> None:
        self.running -= 1
        left = self.tenants[ticket.tenant] - 1
        if left:
            self.tenants[ticket.tenant] = left
        else:
            del self.tenants[ticket.tenant]
        self.seen[ticket.tenant] = (now, ticket.priority)

    def may_start(self, tenant: str, now: float) -> bool:
        if surely_free(self.spec, self.running, len(self.seen)):
            return True
        if self.running >= self.spec.capacity:
            return False
        active = active_tenants(self.spec, now, self.seen, self.tenants, self.queue.tenants())
        for gone in self.seen.keys() - active.keys():
            del self.seen[gone]
        return may_start(self.spec, tenant, active)


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
        self.limited: dict[int, tuple[Identity, tuple[Subject, ...]]] = {}  # by id(identity)
        self.models: dict[str, ModelSlots] = {}

    def _limited(self, identity: Identity) -> tuple[Subject, ...]:
        """subjects(identity), found by the identity object itself: the key
        file's identities are the same objects request after request, and
        hashing one (a dataclass of eight fields) cost more than the limits."""
        if identity.limits is NO_LIMITS and identity.tenant_limits is NO_LIMITS:
            return ()
        found = self.limited.get(id(identity))
        if found is not None and found[0] is identity:
            return found[1]
        if len(self.limited) >= 4096:  # keys rotated many times: start over
            self.limited.clear()
        limited = subjects(identity)
        self.limited[id(identity)] = (identity, limited)  # holds it: its id stays its own
        return limited

    def check_limits(self, identity: Identity) -> ErrorReply | None:
        limited = self._limited(identity)
        if not limited:
            return None
        refusal = self.limiter.admit(limited, self.replicas.share, self.clock())
        return rate_limited(refusal) if refusal else None

    def charge_limits(self, identity: Identity, usage: tuple[int, int]) -> None:
        limited = self._limited(identity)
        if limited:
            self.limiter.charge(limited, sum(usage), self.replicas.share, self.clock())

    def _slots(self, d: Deployment) -> ModelSlots:
        m = self.models.get(d.key)
        if m is None:
            m = self.models[d.key] = ModelSlots(FairQueue(self.max_queued), SlotShare(1))
        capacity = max(1, math.ceil(len(d.ready) * d.max_running * self.replicas.share))
        if capacity != m.spec.capacity:
            m.spec = SlotShare(capacity)
        return m

    async def enter(
        self, d: Deployment, identity: Identity, body_bytes: int, label: str = ""
    ) -> Ticket | ErrorReply:
        """A slot on the model now, or after waiting fairly; the busy 503 when full."""
        estimate = body_bytes // PROMPT_BYTES_PER_TOKEN
        if not self.fair:
            return Ticket(d.key, identity.tenant, estimate, gated=False)
        m = self._slots(d)
        now = self.clock()
        ticket = Ticket(d.key, identity.tenant, estimate, True, priority(identity))
        m.seen[ticket.tenant] = (now, ticket.priority)
        if not m.queue and m.may_start(ticket.tenant, now):
            m.start(ticket)
            return ticket
        ticket.turn = turn = asyncio.get_running_loop().create_future()
        if not m.queue.push(ticket, ticket.tenant, ticket.priority):
            return queue_full()
        self._dispatch(m)  # slots may have opened since (a replica came, a share grew)
        await self._wait(m.queue, ticket, turn, label)
        return ticket

    async def _wait(
        self, queue: FairQueue[Ticket], ticket: Ticket, turn: asyncio.Future[None], label: str
    ) -> None:
        t0 = time.monotonic()
        if self.metrics is not None:
            self.metrics.queued.labels(model=label).inc()
        try:
            await turn  # the slot is handed over by _dispatch(): running already counts it
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
        m = self.models[ticket.deployment]
        prompt, output = usage
        m.queue.charge(ticket.tenant, max(prompt - ticket.estimate, 0), output)
        m.end(ticket, self.clock())
        if m.queue:
            self._dispatch(m)

    def _dispatch(self, m: ModelSlots) -> None:
        """Hand free slots to the fairest waiters that may take one (charged
        their estimate now, so the next pick already sees it). A slot kept as
        headroom is looked at again when the next request ends or comes."""
        now = self.clock()
        while m.queue and m.running < m.spec.capacity:
            nxt = m.queue.pop(lambda tenant: m.may_start(tenant, now))
            if nxt is None:
                return
            ticket = nxt[0]
            if ticket.turn is None or ticket.turn.done():  # its client left meanwhile
                continue
            m.start(ticket)
            ticket.turn.set_result(None)

    def running(self, key: str) -> int:
        m = self.models.get(key)
        return m.running if m else 0

    def waiting(self, key: str) -> int:
        m = self.models.get(key)
        return len(m.queue) if m else 0

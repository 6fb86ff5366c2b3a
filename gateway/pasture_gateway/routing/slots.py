"""Fair share of a model's running slots among tenants (pure).

The fair queue (fairness.py) decides who goes next once a model is
saturated, but cannot help a quiet tenant whose request arrives while a
flood holds every slot: first in the queue, it still waits for the flood's
next completion (up to a whole request's duration). So admission keeps the
share at the slot level as well. While more than one tenant is *active* on a
model at this gateway (a request in flight or waiting, or one seen within
`active_seconds`), each active tenant's fair share is the slots x its weight
/ the active tenants' weights:

- a tenant below its share may take any free slot;
- a tenant at or above it may take a free slot only if that leaves free
  `headroom` slots for every other active tenant still below its share
  (fewer for one less than `headroom` below it), and no more than
  `max_held` of the slots in all (many quiet tenants must not idle a
  flood's slots: beyond that, they wait for one completion, first in line).

So a quiet tenant's next request finds a slot at once, and a flood still gets
every other slot (work-conserving but for the headroom, held only while a
quiet tenant was active recently); a lone tenant gets every slot, and so
does anyone when nothing is in flight (nobody would free a slot otherwise).

Weights follow the fair queue's strict priority classes: the active tenants
of the top class share the slots equally (weight 1); lower classes have no
share, and use only what the top class leaves beyond its headroom."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

HEADROOM = 1  # slots kept free for each quiet active tenant
MAX_HELD = 1 / 8  # of the slots, at most, kept free for quiet tenants in all
ACTIVE_SECONDS = 5.0  # a tenant stays active this long after its last request


@dataclass(frozen=True, slots=True)
class SlotShare:
    """This gateway's running slots on one model and how they are shared."""

    capacity: int
    headroom: int = HEADROOM
    max_held: float = MAX_HELD
    active_seconds: float = ACTIVE_SECONDS

    @property
    def most_held(self) -> int:
        """Slots kept free for quiet tenants in all: at least one tenant's headroom."""
        return max(self.headroom, int(self.capacity * self.max_held))


@dataclass(frozen=True, slots=True)
class Active:
    """One active tenant: its requests in flight here, and its weight."""

    in_flight: int
    weight: float = 1.0


def active_tenants(
    spec: SlotShare,
    now: float,
    seen: Mapping[str, tuple[float, int]],
    in_flight: Mapping[str, int],
    waiting: Collection[str],
) -> dict[str, Active]:
    """The active tenants and their weights. `seen`: tenant -> (time of its
    last request's start or end, its priority); every tenant in flight or
    waiting is in it."""
    live = {
        tenant: prio
        for tenant, (at, prio) in seen.items()
        if in_flight.get(tenant, 0) or tenant in waiting or now - at < spec.active_seconds
    }
    top = max(live.values(), default=0)
    return {
        tenant: Active(in_flight.get(tenant, 0), 1.0 if prio == top else 0.0)
        for tenant, prio in live.items()
    }


def shares(capacity: int, tenants: Mapping[str, Active]) -> dict[str, float]:
    """Each tenant's fair share of `capacity` slots, by weight."""
    total = sum(t.weight for t in tenants.values())
    return {u: capacity * t.weight / total if total > 0 else 0.0 for u, t in tenants.items()}


def held_for_others(spec: SlotShare, tenant: str, tenants: Mapping[str, Active]) -> int:
    """Free slots `tenant` must leave for the other tenants below their share."""
    share = shares(spec.capacity, tenants)
    held = sum(
        min(spec.headroom, math.ceil(share[u]) - t.in_flight)
        for u, t in tenants.items()
        if u != tenant and t.in_flight < share[u]
    )
    return min(held, spec.most_held)


def may_start(spec: SlotShare, tenant: str, tenants: Mapping[str, Active]) -> bool:
    """Whether `tenant` may start one more request now; `tenants` are the
    active ones (active_tenants), `tenant` among them."""
    running = sum(t.in_flight for t in tenants.values())
    free = spec.capacity - running
    if free <= 0:
        return False
    if running == 0 or len(tenants) <= 1:
        return True
    own = tenants.get(tenant, Active(0, 0.0))
    total = sum(t.weight for t in tenants.values())
    if total > 0 and own.in_flight < spec.capacity * own.weight / total:
        return True
    return free > held_for_others(spec, tenant, tenants)


def surely_free(spec: SlotShare, running: int, seen: int) -> bool:
    """A cheap sufficient test for may_start: free slots beyond any headroom
    that `seen` tenants (every active one among them) could hold."""
    return spec.capacity - running > min(spec.headroom * max(seen - 1, 0), spec.most_held)

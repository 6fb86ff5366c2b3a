"""Token-weighted fair queueing across tenants (pure): the Virtual Token
Counter of "Fairness in Serving Large Language Models" (Sheng et al., OSDI
'24), as llm-d's flow control uses it. Every tenant has a counter of the
tokens it was served (prompt + output, weighted by `output_weight` for output
tokens, which cost the engine more per token); when a slot frees, the waiting
tenant with the smallest counter goes next. A tenant that starts waiting
is lifted to the smallest counter among those already waiting, so idle time
banks no credit and a newcomer cannot starve the others either.

Optional priority classes: a higher class is always dispatched first (strict;
a flood at a high class can starve a lower one, by design). Within a class,
requests of one tenant leave in arrival order; equal counters go to the
shorter backlog first (a lifted newcomer ties with the floor, and should not
wait behind a flood's oldest request for that). Bounded: a full queue refuses.
`pop` may be limited to the tenants that may start now (slots.py: a tenant
over its share of the slots waits while headroom is kept for a quiet one)."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
OUTPUT_WEIGHT = 2.0


@dataclass(slots=True)
class _Waiting(Generic[T]):
    item: T
    seq: int


@dataclass
class FairQueue(Generic[T]):
    max_queued: int
    output_weight: float = OUTPUT_WEIGHT
    counters: dict[str, float] = field(default_factory=dict)
    # (priority, tenant) -> its waiting items, oldest first
    _queues: dict[tuple[int, str], deque[_Waiting[T]]] = field(default_factory=dict)
    _where: dict[T, tuple[int, str]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._where)

    def push(self, item: T, tenant: str, priority: int = 0) -> bool:
        """Queue `item`; False when the queue is full (nothing queued)."""
        if len(self._where) >= self.max_queued:
            return False
        slot = (priority, tenant)
        if not any(t == tenant for _, t in self._queues):
            self._lift(tenant)
        self._queues.setdefault(slot, deque()).append(_Waiting(item, next(self._seq)))
        self._where[item] = slot
        return True

    def _lift(self, tenant: str) -> None:
        waiting = {t for _, t in self._queues}
        floor = min((self.counters.get(t, 0.0) for t in waiting), default=None)
        own = self.counters.get(tenant, 0.0)
        self.counters[tenant] = own if floor is None else max(own, floor)

    def tenants(self) -> set[str]:
        """The tenants with requests waiting."""
        return {t for _, t in self._queues}

    def pop(self, eligible: Callable[[str], bool] | None = None) -> tuple[T, str] | None:
        """The next (item, tenant) to dispatch, or None when nothing waits
        (or no waiting tenant is `eligible`)."""
        slots = [s for s in self._queues if eligible is None or eligible(s[1])]
        if not slots:
            return None
        top = max(p for p, _ in slots)
        slot = min(
            (s for s in slots if s[0] == top),
            key=lambda s: (
                self.counters.get(s[1], 0.0),
                len(self._queues[s]),
                self._queues[s][0].seq,
            ),
        )
        queue = self._queues[slot]
        waiting = queue.popleft()
        if not queue:
            del self._queues[slot]
        del self._where[waiting.item]
        return waiting.item, slot[1]

    def remove(self, item: T) -> bool:
        """Forget a waiting item (its client left); False if not waiting."""
        slot = self._where.pop(item, None)
        if slot is None:
            return False
        queue = self._queues[slot]
        for w in queue:
            if w.item == item:
                queue.remove(w)
                break
        if not queue:
            del self._queues[slot]
        return True

    def charge(self, tenant: str, prompt: int, output: int) -> None:
        """Service a tenant received (the engine's counts, or an estimate)."""
        self.counters[tenant] = (
            self.counters.get(tenant, 0.0) + prompt + self.output_weight * output
        )

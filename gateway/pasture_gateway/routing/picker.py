"""Replica choice (pure). `leastLoad`: fewest requests in flight at this
gateway. `prefixHash`: consistent hashing with bounded loads (CHWBL, as in
KubeAI's load balancer): a prompt prefix hashes to a point on a ring of
virtual nodes; the first replica clockwise whose load stays within
`load_factor` x the average (counting this request) takes it, so a shared
prefix lands where vLLM's prefix cache already holds it and a hot prefix
spills over to the next replicas instead of overloading one."""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache

VIRTUAL_NODES = 100
LOAD_FACTOR = 1.25


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@lru_cache(maxsize=256)
def _ring(members: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    points = sorted((_hash(f"{m}{i}"), m) for m in members for i in range(VIRTUAL_NODES))
    return tuple(p for p, _ in points), tuple(m for _, m in points)


def ring_order(members: Sequence[str], key: str) -> list[str]:
    """Distinct members in ring order, starting at the key's point."""
    hashes, owners = _ring(tuple(sorted(members)))
    start = bisect.bisect_left(hashes, _hash(key))
    out: list[str] = []
    for i in range(len(owners)):
        m = owners[(start + i) % len(owners)]
        if m not in out:
            out.append(m)
            if len(out) == len(members):
                break
    return out


def load_ok(load: int, total: int, members: int, load_factor: float) -> bool:
    """Within the bound, counting this request. The bound is whole requests (the
    CHWBL paper's ceil): a fractional one spilled a prefix from its home replica
    with a single request in flight there (2 replicas: 1.25 x 2/2 < 2)."""
    if total == 0:
        return True
    return load + 1 <= math.ceil((total + 1) / members * load_factor)


def least_load(candidates: Sequence[str], loads: Mapping[str, int], turn: int = 0) -> str:
    """The least loaded candidate; ties rotate by `turn` so idle replicas share work."""
    low = min(loads.get(c, 0) for c in candidates)
    tied = [c for c in candidates if loads.get(c, 0) == low]
    return tied[turn % len(tied)]


def choose(
    members: Sequence[str],
    loads: Mapping[str, int],
    strategy: str,
    prefix: str | None,
    skip: Collection[str] = (),
    turn: int = 0,
    load_factor: float = LOAD_FACTOR,
) -> str | None:
    """The replica for one attempt; None when every member is skipped."""
    candidates = [m for m in members if m not in skip]
    if not candidates:
        return None
    if strategy != "prefixHash" or not prefix:
        return least_load(candidates, loads, turn)
    total = sum(loads.get(m, 0) for m in members)
    ordered = [m for m in ring_order(members, prefix) if m not in skip]
    for m in ordered:
        if load_ok(loads.get(m, 0), total, len(members), load_factor):
            return m
    return ordered[0]

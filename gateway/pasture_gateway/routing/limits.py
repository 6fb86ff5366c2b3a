"""Requests-per-minute and tokens-per-minute limits (pure; the clock is passed
in). One token bucket per limited subject (a key or a tenant) and kind: it
holds a minute's allowance, refills continuously at allowance/60 per second,
and starts full. A request takes one from every requests bucket it is under.
Tokens are known only once the engine has answered (its own counts), so a
tokens bucket is charged afterwards and may go below zero: further requests
wait until it is back above zero (the debt is paid by the refill).

`share` scales every allowance: with N gateway replicas each enforces 1/N of
the limit (docs/gateway.md, Limits and fairness)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

REQUESTS = "rpm"
TOKENS = "tpm"


@dataclass(frozen=True, slots=True)
class Subject:
    """One limited party: `key:<id>` or `tenant:<name>`, with its allowances."""

    name: str
    requests_per_minute: int | None
    tokens_per_minute: int | None
    # Its limited kinds as (kind, limit, bucket key), worked out once: the
    # per-request loop then allocates nothing (routing/limits's hot path).
    kinds: tuple[tuple[str, int, tuple[str, str]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        kinds = ((REQUESTS, self.requests_per_minute), (TOKENS, self.tokens_per_minute))
        found = tuple((k, limit, (self.name, k)) for k, limit in kinds if limit is not None)
        object.__setattr__(self, "kinds", found)


@dataclass(slots=True)
class Bucket:
    level: float  # what is left now (tokens buckets may be negative)
    stamp: float  # when `level` was computed


@dataclass(frozen=True, slots=True)
class Refusal:
    subject: str
    kind: str  # REQUESTS | TOKENS
    limit: int  # the whole limit (not this replica's share), for the message
    retry_after: int  # whole seconds until a retry can pass


class RateLimiter:
    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], Bucket] = {}

    def _level(self, key: tuple[str, str], allowance: float, now: float) -> Bucket:
        """The bucket refilled up to `now` (created full). Written with
        comparisons, not min/max calls: this runs for every limited request."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(allowance, now)
            return bucket
        refill = (now - bucket.stamp) * allowance / 60.0
        level = bucket.level + (0.0 if refill < 0.0 else refill)  # max(refill, 0.0)
        bucket.level = level if level < allowance else allowance  # min(allowance, level)
        bucket.stamp = now
        return bucket

    def admit(self, subjects: Iterable[Subject], share: float, now: float) -> Refusal | None:
        """Take one request from every requests bucket, or refuse (taking nothing)."""
        taken: list[Bucket] = []
        worst: Refusal | None = None
        for s in subjects:
            for kind, limit, key in s.kinds:
                allowance = limit * share
                if allowance < 1.0:  # max(limit * share, 1.0)
                    allowance = 1.0
                level = (bucket := self._level(key, allowance, now)).level
                # A requests bucket needs one whole request; a tokens bucket, any credit.
                if kind == REQUESTS:
                    if level >= 1.0:
                        taken.append(bucket)
                        continue
                    missing = 1.0 - level
                elif level > 0:
                    continue
                else:
                    missing = -level
                wait = max(1, math.ceil(missing * 60.0 / allowance - 1e-9))
                if worst is None or wait > worst.retry_after:
                    worst = Refusal(s.name, kind, limit, wait)
        if worst is not None:
            return worst
        for bucket in taken:
            bucket.level -= 1.0
        return None

    def charge(self, subjects: Iterable[Subject], tokens: int, share: float, now: float) -> None:
        """The engine's counts for a finished request, from every tokens bucket."""
        if tokens <= 0:
            return
        for s in subjects:
            for kind, limit, key in s.kinds:
                if kind == TOKENS:
                    allowance = limit * share
                    self._level(key, 1.0 if allowance < 1.0 else allowance, now).level -= tokens

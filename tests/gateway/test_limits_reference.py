"""The rate limiter, rewritten for speed (routing/limits.py), against the
plain version it replaced, kept here as the reference: the same refusals
and the same bucket levels, step for step, over random mixes of subjects,
shares, clock steps and charges. And the admission's per-identity lookup
of the limited subjects."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import pytest

from pasture_gateway.identity import ALL_SCOPES, Identity, Limits
from pasture_gateway.kube.peers import GatewayReplicas
from pasture_gateway.routing.limits import REQUESTS, TOKENS, Bucket, RateLimiter, Refusal, Subject
from pasture_gateway.usecases.admission import Admission, subjects


class Reference:
    """routing/limits.RateLimiter as it was before the rewrite."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], Bucket] = {}

    def _level(self, subject: str, kind: str, allowance: float, now: float) -> Bucket:
        bucket = self.buckets.get((subject, kind))
        if bucket is None:
            bucket = self.buckets[(subject, kind)] = Bucket(allowance, now)
            return bucket
        refill = (now - bucket.stamp) * allowance / 60.0
        bucket.level = min(allowance, bucket.level + max(refill, 0.0))
        bucket.stamp = now
        return bucket

    def admit(self, subjects: Iterable[Subject], share: float, now: float) -> Refusal | None:
        taken: list[Bucket] = []
        worst: Refusal | None = None
        for s in subjects:
            for kind, limit in ((REQUESTS, s.requests_per_minute), (TOKENS, s.tokens_per_minute)):
                if limit is None:
                    continue
                allowance = max(limit * share, 1.0)
                bucket = self._level(s.name, kind, allowance, now)
                missing = 1.0 - bucket.level if kind == REQUESTS else -bucket.level
                if missing <= 0 and not (kind == TOKENS and bucket.level == 0):
                    if kind == REQUESTS:
                        taken.append(bucket)
                    continue
                wait = max(1, math.ceil(missing * 60.0 / allowance - 1e-9))
                if worst is None or wait > worst.retry_after:
                    worst = Refusal(s.name, kind, limit, wait)
        if worst is not None:
            return worst
        for bucket in taken:
            bucket.level -= 1.0
        return None

    def charge(self, subjects: Iterable[Subject], tokens: int, share: float, now: float) -> None:
        if tokens <= 0:
            return
        for s in subjects:
            if s.tokens_per_minute is None:
                continue
            allowance = max(s.tokens_per_minute * share, 1.0)
            self._level(s.name, TOKENS, allowance, now).level -= tokens


SUBJECTS = [
    Subject("key:a", 3, None),
    Subject("key:b", None, 200),
    Subject("key:c", 1, 1),
    Subject("tenant:t", 10, 600),
    Subject("tenant:u", 0, None),  # a zero limit: the allowance floor of one
    Subject("tenant:v", None, None),
]


@pytest.mark.parametrize("seed", range(40))
def test_the_rewrite_decides_as_the_reference(seed: int) -> None:
    rnd = random.Random(seed)
    fast, ref = RateLimiter(), Reference()
    now = rnd.uniform(0, 100)
    for _ in range(400):
        picked = rnd.sample(SUBJECTS, rnd.randint(0, 3))
        share = rnd.choice([1.0, 0.5, 1 / 3, 0.01])
        now += rnd.choice([0.0, 0.0, 0.001, 0.5, 3.0, 20.0, -0.25])  # a clock may step back
        if rnd.random() < 0.6:
            assert fast.admit(picked, share, now) == ref.admit(picked, share, now)
        else:
            tokens = rnd.choice([0, 1, 20, 150, 1000, -5])
            fast.charge(picked, tokens, share, now)
            ref.charge(picked, tokens, share, now)
        assert fast.buckets == ref.buckets


def test_subject_kinds_are_its_limited_kinds() -> None:
    assert Subject("key:a", 3, None).kinds == ((REQUESTS, 3, ("key:a", REQUESTS)),)
    assert [k for k, *_ in Subject("t", 1, 2).kinds] == [REQUESTS, TOKENS]
    assert Subject("t", None, None).kinds == ()
    assert Subject("t", 1, 2) == Subject("t", 1, 2)  # kinds take no part in equality
    assert hash(Subject("t", 1, 2)) == hash(Subject("t", 1, 2))


def test_admission_finds_the_subjects_by_identity() -> None:
    adm = Admission(GatewayReplicas())
    one = Limits(requests_per_minute=1)
    who = Identity("k", "a", ALL_SCOPES, limits=one)
    twin = Identity("k", "a", ALL_SCOPES, limits=one)  # equal, another object
    assert adm.check_limits(who) is None
    assert adm.check_limits(twin) is not None  # the same key's bucket, now empty
    assert adm._limited(who) == adm._limited(twin) == subjects(who)
    assert adm._limited(Identity("free", "a", ALL_SCOPES)) == ()
    adm.limited.update({i: (who, ()) for i in range(4096)})  # full: starts over
    third = Identity("k", "a", ALL_SCOPES, limits=one)
    assert adm._limited(third) == subjects(third)
    assert len(adm.limited) == 1

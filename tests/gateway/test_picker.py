"""Replica choice (pure): least load, CHWBL prefix affinity with bounded loads,
skipping replicas already tried; the prompt prefix; Ollama's keep_alive."""

from __future__ import annotations

from collections import Counter

import pytest

from pasture_gateway.routing.keepalive import keep_alive_seconds
from pasture_gateway.routing.picker import choose, load_ok, ring_order
from pasture_gateway.routing.prefix import prefix_key

PODS = ["a", "b", "c"]


def test_least_load_takes_the_idlest_and_rotates_ties() -> None:
    loads = {"a": 3, "b": 1, "c": 1}
    assert choose(PODS, loads, "leastLoad", "x", turn=0) == "b"
    assert choose(PODS, loads, "leastLoad", "x", turn=1) == "c"
    assert choose(PODS, {"a": 0, "b": 5, "c": 5}, "leastLoad", None) == "a"


def test_skipped_replicas_are_never_chosen() -> None:
    assert choose(PODS, {}, "leastLoad", None, skip={"a", "b"}) == "c"
    assert choose(PODS, {}, "prefixHash", "p", skip={"a", "b", "c"}) is None


def test_same_prefix_same_replica_when_unloaded() -> None:
    first = choose(PODS, {}, "prefixHash", "system: you are a pirate")
    for _ in range(5):
        assert choose(PODS, {}, "prefixHash", "system: you are a pirate") == first


def test_prefixes_spread_over_replicas() -> None:
    counts = Counter(choose(PODS, {}, "prefixHash", f"prompt {i}") for i in range(300))
    assert set(counts) == set(PODS)
    assert min(counts.values()) > 50


def test_ring_order_is_stable_when_an_unrelated_replica_leaves() -> None:
    moved = 0
    for i in range(200):
        before = ring_order(["a", "b", "c", "d"], f"k{i}")[0]
        after = ring_order(["a", "b", "c"], f"k{i}")[0]
        if before != "d":
            moved += before != after
    assert moved == 0  # only keys of the removed replica move


def test_a_hot_prefix_spills_to_the_next_replica_on_the_ring() -> None:
    key = "hot system prompt"
    home, second, _ = ring_order(PODS, key)
    # home holds far more than its bounded share: the next replica clockwise takes it.
    assert choose(PODS, {home: 6, second: 0}, "prefixHash", key) == second
    # within the bound it stays home
    assert choose(PODS, {home: 1, second: 1, "c": 1}, "prefixHash", key) in (home,)


@pytest.mark.parametrize(
    ("load", "total", "n", "ok"),
    [
        (0, 0, 3, True), (0, 3, 3, True), (1, 3, 3, True), (2, 3, 3, False), (2, 8, 3, True),
        (4, 8, 3, False), (5, 5, 1, True),
        # Two replicas, few requests: the bound is a whole number of requests
        # (CHWBL's ceil), so one request in flight at home does not spill the next.
        (1, 1, 2, True), (2, 3, 2, True), (2, 2, 2, False), (3, 3, 2, False),
    ],
)  # fmt: skip
def test_load_bound(load: int, total: int, n: int, ok: bool) -> None:
    assert load_ok(load, total, n, 1.25) is ok


def test_a_prefix_stays_home_at_low_concurrency_on_two_replicas() -> None:
    """Regression: with a fractional bound, one request in flight at home sent
    the next request of its prefix to the other replica (bench/gateway_prefix.py:
    prefixHash's hit rate equalled round robin's at concurrency 4)."""
    home, other = ring_order(["a", "b"], "system prompt")
    assert choose(["a", "b"], {home: 1, other: 0}, "prefixHash", "system prompt") == home
    assert choose(["a", "b"], {home: 2, other: 1}, "prefixHash", "system prompt") == home
    assert choose(["a", "b"], {home: 2, other: 0}, "prefixHash", "system prompt") == other


def test_without_a_prefix_prefix_hash_falls_back_to_least_load() -> None:
    assert choose(PODS, {"a": 2, "b": 0, "c": 1}, "prefixHash", None) == "b"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                       {"role": "assistant", "content": "A"}, {"role": "user", "content": "V"}]},
         "system:S"),
        ({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "other"}]},
         "system:S"),
        ({"messages": [{"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]},
         "user:U"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, "user:hi"),
        ({"prompt": "abc", "system": "S"}, "system:S"),
        ({"prompt": ["first", "second"]}, "first"),
        ({"input": "embed me"}, None),
        ({"prompt": ""}, None),
    ],
)  # fmt: skip
def test_prefix_key(body: dict[str, object], key: str | None) -> None:
    assert prefix_key(body) == key


def test_prefix_key_is_bounded() -> None:
    assert len(prefix_key({"prompt": "x" * 5000}, chars=100) or "") == 100


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10m", 600), ("1h30m", 5400), ("30s", 30), ("1.5s", 2), ("0", 0), (0, 0),
        (300, 300), ("300", 300), (-1, -1), ("-1m", -1), ("-1", -1), (2.2, 3),
        (None, None), ("soon", None), ("10x", None), (True, None), ([], None), ("", None),
    ],
)  # fmt: skip
def test_keep_alive(value: object, seconds: int | None) -> None:
    assert keep_alive_seconds(value) == seconds

"""The fair share of a model's slots (pure, routing/slots.py): who may start
a request now, given the active tenants' requests in flight; which tenants
are active; the cheap test the unsaturated path uses instead."""

from __future__ import annotations

import itertools

import pytest

from pasture_gateway.routing.slots import (
    Active,
    SlotShare,
    active_tenants,
    held_for_others,
    may_start,
    surely_free,
)


def tenants(**in_flight: int) -> dict[str, Active]:
    return {name: Active(n) for name, n in in_flight.items()}


@pytest.mark.parametrize(
    ("capacity", "headroom", "state", "who", "expected"),  # max_held 1/8 unless said
    [
        # a lone tenant gets every slot, and none beyond
        (8, 1, {"a": 7}, "a", True),
        (8, 1, {"a": 8}, "a", False),
        # nothing in flight: anyone starts (nobody would free a slot otherwise)
        (1, 1, {"a": 0, "b": 0}, "a", True),
        # a flood keeps one slot free for a quiet tenant active recently...
        (8, 1, {"a": 6, "b": 0}, "a", True),
        (8, 1, {"a": 7, "b": 0}, "a", False),
        (8, 1, {"a": 7, "b": 0}, "b", True),
        # ...and again once the quiet one took it, while it is below its share
        (8, 1, {"a": 6, "b": 1}, "a", False),
        (8, 1, {"a": 5, "b": 1}, "a", True),
        # below its share a tenant takes any free slot
        (8, 1, {"a": 3, "b": 4}, "a", True),
        (8, 1, {"a": 1, "b": 6}, "a", True),
        # a full model: nobody
        (8, 1, {"a": 4, "b": 4}, "a", False),
        (8, 1, {"a": 8, "b": 0}, "b", False),
        # headroom per quiet tenant, at most an eighth of the slots in all
        (8, 1, {"a": 6, "b": 0, "c": 0}, "a", True),
        (8, 1, {"a": 7, "b": 0, "c": 0}, "a", False),
        (16, 1, {"a": 13, "b": 0, "c": 0}, "a", True),
        (16, 1, {"a": 14, "b": 0, "c": 0}, "a", False),
        (16, 1, {"a": 13, "b": 0, "c": 0, "d": 0}, "a", True),  # 2 held of 16, not 3
    ],
)
def test_who_may_start(
    capacity: int, headroom: int, state: dict[str, int], who: str, expected: bool
) -> None:
    spec = SlotShare(capacity, headroom)
    assert may_start(spec, who, tenants(**state)) is expected


@pytest.mark.parametrize(
    ("capacity", "headroom", "state", "expected"),  # may "a" start; the sum held uncapped
    [
        (8, 2, {"a": 5, "b": 0}, True),
        (8, 2, {"a": 6, "b": 0}, False),
        # no more headroom than the quiet tenant is below its share (9 slots, 3 each)
        (9, 2, {"a": 3, "b": 2, "c": 0}, True),
        (9, 2, {"a": 4, "b": 2, "c": 0}, False),
        # headroom as large as the share: a strict cap at the fair share
        (8, 4, {"a": 4, "b": 0}, False),
        (8, 4, {"a": 3, "b": 0}, True),
    ],
)
def test_larger_headroom(
    capacity: int, headroom: int, state: dict[str, int], expected: bool
) -> None:
    spec = SlotShare(capacity, headroom, max_held=1.0)
    assert may_start(spec, "a", tenants(**state)) is expected


def test_many_quiet_tenants_do_not_idle_a_floods_slots() -> None:
    quiet = {f"q{i}": Active(0) for i in range(20)}
    spec = SlotShare(8)  # shares of 8/21: the flood is over its share at one request
    assert may_start(spec, "a", {"a": Active(6), **quiet})
    assert not may_start(spec, "a", {"a": Active(7), **quiet})
    assert may_start(spec, "q0", {"a": Active(7), **quiet})
    assert held_for_others(SlotShare(256), "a", {"a": Active(200), **quiet}) == 20
    assert held_for_others(SlotShare(64), "a", {"a": Active(50), **quiet}) == 8


def test_held_for_others_counts_only_tenants_below_their_share() -> None:
    spec = SlotShare(8, 2, max_held=1.0)
    assert held_for_others(spec, "a", tenants(a=5, b=0, c=3)) == 2  # c is over its share (8/3)
    assert held_for_others(spec, "a", tenants(a=2, b=4, c=2)) == 1  # b is over its share
    assert held_for_others(spec, "b", tenants(a=2, b=4, c=2)) == 2


PRIORITY = [
    # (a's priority, b's priority, a in flight, who, expected): 8 slots, b in flight 0
    (1, 0, 7, "a", True),  # a's class is top: a lower class holds nothing back
    (1, 0, 7, "b", False),  # b has no share while a higher class is active
    (0, 1, 6, "a", True),
    (0, 1, 7, "a", False),  # headroom kept for the higher class
    (0, 1, 7, "b", True),
]


@pytest.mark.parametrize(("pa", "pb", "a_in_flight", "who", "expected"), PRIORITY)
def test_strict_priority_classes_share_the_slots(
    pa: int, pb: int, a_in_flight: int, who: str, expected: bool
) -> None:
    spec = SlotShare(8)
    seen = {"a": (0.0, pa), "b": (0.0, pb)}
    active = active_tenants(spec, 1.0, seen, {"a": a_in_flight}, ())
    assert may_start(spec, who, active) is expected


def test_active_within_the_window_or_while_in_flight_or_waiting() -> None:
    spec = SlotShare(8, active_seconds=5.0)
    seen = {"a": (0.0, 0), "b": (0.0, 0), "c": (0.0, 0), "d": (3.0, 2)}
    assert set(active_tenants(spec, 4.9, seen, {}, ())) == {"a", "b", "c", "d"}
    late = active_tenants(spec, 5.5, seen, {"a": 2}, {"b"})
    assert late == {"a": Active(2, 0.0), "b": Active(0, 0.0), "d": Active(0, 1.0)}
    assert active_tenants(spec, 9.0, seen, {}, ()) == {}


def test_surely_free_never_allows_what_may_start_refuses() -> None:
    names = ("a", "b", "c")
    for capacity, headroom, most in itertools.product(range(1, 7), (1, 2, 3), (0.125, 1.0)):
        spec = SlotShare(capacity, headroom, most)
        for counts in itertools.product(range(capacity + 1), repeat=3):
            state = dict(zip(names, (Active(n) for n in counts), strict=True))
            if surely_free(spec, sum(counts), len(state)):
                assert all(may_start(spec, who, state) for who in names), (spec, counts)


def test_the_cheap_test_is_exact_for_a_lone_tenant() -> None:
    spec = SlotShare(4)
    assert surely_free(spec, 3, 1)
    assert not surely_free(spec, 4, 1)
    assert not surely_free(spec, 3, 2)  # two tenants near saturation: look closer

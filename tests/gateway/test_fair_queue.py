"""Token-weighted fair queueing (pure): virtual token counters, the lift of a
tenant that starts waiting, priority classes, bounds, removal."""

from __future__ import annotations

from pasture_gateway.routing.fairness import FairQueue


def drain(q: FairQueue[str], cost: dict[str, int] | None = None) -> list[str]:
    out = []
    while (nxt := q.pop()) is not None:
        item, tenant = nxt
        out.append(item)
        q.charge(tenant, (cost or {}).get(tenant, 100), 0)
    return out


def test_a_heavy_tenant_cannot_starve_a_light_one() -> None:
    q: FairQueue[str] = FairQueue(max_queued=100)
    for i in range(10):
        q.push(f"a{i}", "a")
    q.push("b0", "b")
    q.push("b1", "b")
    order = drain(q)
    assert order.index("b0") <= 1
    assert order.index("b1") <= 3


def test_tokens_not_requests_are_shared() -> None:
    q: FairQueue[str] = FairQueue(max_queued=100)
    for i in range(4):
        q.push(f"a{i}", "a")
        q.push(f"b{i}", "b")
    # a's requests cost 3x b's: b gets about three turns per a turn
    order = drain(q, {"a": 300, "b": 100})
    assert order[:4] == ["a0", "b0", "b1", "b2"]


def test_output_tokens_weigh_more_than_prompt_tokens() -> None:
    q: FairQueue[str] = FairQueue(max_queued=10, output_weight=2.0)
    q.charge("a", 100, 0)
    q.charge("b", 0, 60)
    assert q.counters == {"a": 100.0, "b": 120.0}


def test_a_newcomer_is_lifted_to_the_waiting_floor() -> None:
    q: FairQueue[str] = FairQueue(max_queued=10)
    q.charge("a", 5000, 0)
    q.push("a0", "a")
    q.push("b0", "b")  # b was idle: starts at a's 5000, banks no credit for idle time
    assert q.counters["b"] == 5000
    q.push("a1", "a")
    assert q.pop() == ("b0", "b")  # a tie goes to the shorter backlog
    assert q.pop() == ("a0", "a")  # then arrival order


def test_priority_classes_are_strict() -> None:
    q: FairQueue[str] = FairQueue(max_queued=10)
    q.push("low", "a", priority=0)
    q.push("high", "b", priority=1)
    q.charge("b", 10**6, 0)
    assert drain(q) == ["high", "low"]


def test_bounded_and_removable() -> None:
    q: FairQueue[str] = FairQueue(max_queued=2)
    assert q.push("x", "a")
    assert q.push("y", "b")
    assert not q.push("z", "c")
    assert q.remove("x")
    assert not q.remove("x")
    assert len(q) == 1
    assert q.pop() == ("y", "b")
    assert q.pop() is None


def test_pop_only_among_the_tenants_that_may_start() -> None:
    q: FairQueue[str] = FairQueue(max_queued=10)
    q.push("a0", "a")
    q.push("b0", "b")
    q.charge("b", 500, 0)  # a's turn by counters, but a is over its share of the slots
    assert q.tenants() == {"a", "b"}
    assert q.pop(lambda tenant: tenant != "a") == ("b0", "b")
    assert q.pop(lambda tenant: tenant != "a") is None
    assert q.pop() == ("a0", "a")
    assert q.tenants() == set()

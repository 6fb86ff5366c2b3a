"""The gateway's admission use case, on its own (no network): below a model's
slots requests pass at once; saturated, they wait and leave by fair share;
a full queue answers the busy 503; a waiter whose client left frees its place;
the replica share divides the slots."""

from __future__ import annotations

import asyncio
import dataclasses

from pasture_gateway.identity import ALL_SCOPES, Identity
from pasture_gateway.kube.peers import GatewayReplicas
from pasture_gateway.metrics import GatewayMetrics
from pasture_gateway.protocol.errors import ErrorReply
from pasture_gateway.routing.objects import Deployment, Endpoint, parse_deployment
from pasture_gateway.usecases.admission import Admission, Ticket
from tests.gateway.objects import md

A = Identity("ka", "a", ALL_SCOPES)
B = Identity("kb", "b", ALL_SCOPES)


def deployment(max_running: int = 1, replicas: int = 1) -> Deployment:
    d = parse_deployment(md(server={"maxRunning": max_running}))
    ready = tuple(Endpoint(f"p{i}", f"10.0.0.{i}:11434") for i in range(replicas))
    return dataclasses.replace(d, ready=ready)


def test_max_running_from_the_spec() -> None:
    assert parse_deployment(md(server={"maxRunning": 4})).max_running == 4
    assert parse_deployment(md(engine={"maxNumSeqs": 8})).max_running == 8
    assert parse_deployment(md()).max_running == 256


def test_below_the_slots_requests_pass_at_once() -> None:
    async def run() -> None:
        adm = Admission(GatewayReplicas())
        d = deployment(max_running=2, replicas=2)
        tickets = [await adm.enter(d, A, 400) for _ in range(4)]
        assert all(isinstance(t, Ticket) and t.turn is None for t in tickets)
        assert adm.running(d.key) == 4
        assert adm.waiting(d.key) == 0

    asyncio.run(run())


async def _served_order(adm: Admission, d: Deployment, callers: list[Identity]) -> list[str]:
    """Queue `callers` behind one running request; release one at a time."""
    first = await adm.enter(d, A, 400)
    assert isinstance(first, Ticket)
    order: list[str] = []

    async def one(who: Identity) -> None:
        t = await adm.enter(d, who, 400)
        assert isinstance(t, Ticket)
        order.append(who.tenant)
        await asyncio.sleep(0)
        adm.leave(t, (100, 50))

    tasks = []
    for who in callers:
        tasks.append(asyncio.create_task(one(who)))
        await asyncio.sleep(0)  # queued in this order
    adm.leave(first, (100, 50))
    await asyncio.gather(*tasks)
    return order


def test_saturated_a_quiet_tenant_is_not_starved() -> None:
    adm = Admission(GatewayReplicas())
    order = asyncio.run(_served_order(adm, deployment(), [A] * 10 + [B, B]))
    assert order.index("b") <= 1
    assert order[:5].count("b") == 2


def test_fairness_off_is_first_come_first_served() -> None:
    adm = Admission(GatewayReplicas(), fair=False)
    order = asyncio.run(_served_order(adm, deployment(), [A] * 10 + [B, B]))
    assert order == ["a"] * 10 + ["b", "b"]


def test_a_full_queue_answers_busy_and_a_leaver_frees_its_place() -> None:
    async def run() -> None:
        adm = Admission(GatewayReplicas(), max_queued=1)
        d = deployment()
        running = await adm.enter(d, A, 0)
        assert isinstance(running, Ticket)
        waiter = asyncio.create_task(adm.enter(d, A, 0))
        await asyncio.sleep(0)
        full = await adm.enter(d, B, 0)
        assert isinstance(full, ErrorReply)
        assert full.status == 503
        assert ("Retry-After", "1") in full.headers
        waiter.cancel()  # its client left
        await asyncio.sleep(0)
        assert adm.waiting(d.key) == 0
        again = asyncio.create_task(adm.enter(d, B, 0))
        await asyncio.sleep(0)
        adm.leave(running, (0, 0))
        assert isinstance(await again, Ticket)
        assert adm.running(d.key) == 1

    asyncio.run(run())


def test_the_slots_are_shared_among_gateway_replicas() -> None:
    async def run() -> None:
        replicas = GatewayReplicas("gw")
        replicas.replace("Deployment", "ns", [{"metadata": {"name": "gw"},
                                               "status": {"readyReplicas": 2}}])  # fmt: skip
        adm = Admission(replicas)
        d = deployment(max_running=3, replicas=2)  # 6 slots, 3 here
        got = [await adm.enter(d, A, 0) for _ in range(3)]
        assert all(isinstance(t, Ticket) for t in got)
        late = asyncio.create_task(adm.enter(d, A, 0))
        await asyncio.sleep(0)
        assert not late.done()
        assert adm.waiting(d.key) == 1
        replicas.event("Deployment", "MODIFIED", {"metadata": {"name": "gw"},
                                                  "status": {"readyReplicas": 1}})  # fmt: skip
        assert replicas.share == 1.0
        other = await adm.enter(d, B, 0)  # 6 slots here now: the waiter goes, then this one
        assert isinstance(await late, Ticket)
        assert isinstance(other, Ticket)
        assert adm.running(d.key) == 5

    asyncio.run(run())


def test_waiting_is_measured() -> None:
    async def run() -> None:
        metrics = GatewayMetrics()
        adm = Admission(GatewayReplicas(), metrics=metrics)
        d = deployment()
        running = await adm.enter(d, A, 0, "tiny")
        assert isinstance(running, Ticket)
        waiter = asyncio.create_task(adm.enter(d, B, 0, "tiny"))
        await asyncio.sleep(0)
        sample = metrics.registry.get_sample_value
        assert sample("pasture_gateway_queued_requests", {"model": "tiny"}) == 1
        adm.leave(running, (0, 0))
        assert isinstance(await waiter, Ticket)
        assert sample("pasture_gateway_queued_requests", {"model": "tiny"}) == 0
        assert sample("pasture_gateway_queue_seconds_count", {"model": "tiny"}) == 1

    asyncio.run(run())

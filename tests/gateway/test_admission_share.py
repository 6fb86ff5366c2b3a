"""The fair share at the slot level, through the admission use case (no
network, injected clock): a flood keeps a slot free for a quiet tenant seen
recently, so its request starts at once; a lone tenant gets every slot; the
headroom goes back to the flood once the quiet tenant is gone; a tenant
arriving cold waits for one completion only."""

from __future__ import annotations

import asyncio

from pasture_gateway.kube.peers import GatewayReplicas
from pasture_gateway.usecases.admission import Admission, Ticket
from tests.gateway.test_admission import A, B, deployment


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _flood(adm: Admission, n: int) -> tuple[list[Ticket], list[asyncio.Task[object]]]:
    """Tenant A sends `n` requests at once: those started, those waiting."""
    d = deployment(max_running=4)
    tasks: list[asyncio.Task[object]] = [
        asyncio.create_task(adm.enter(d, A, 400)) for _ in range(n)
    ]
    await asyncio.sleep(0)
    started = [t.result() for t in tasks if t.done()]
    tickets = [t for t in started if isinstance(t, Ticket)]
    assert len(tickets) == len(started)
    return tickets, [t for t in tasks if not t.done()]


async def _quiet_request(adm: Admission) -> Ticket:
    ticket = await adm.enter(deployment(max_running=4), B, 400)
    assert isinstance(ticket, Ticket)
    return ticket


def test_a_flood_keeps_a_slot_for_a_quiet_tenant_seen_recently() -> None:
    async def run() -> None:
        clock = Clock()
        adm = Admission(GatewayReplicas(), clock=clock)
        adm.leave(await _quiet_request(adm), (100, 10))  # B was here a moment ago
        clock.now += 1
        started, waiting = await _flood(adm, 10)
        assert len(started) == 3  # the 4th slot is B's headroom
        b = asyncio.create_task(adm.enter(deployment(max_running=4), B, 400))
        await asyncio.sleep(0)
        assert b.done()  # at once: no A request had to end first
        assert adm.running(deployment().key) == 4
        for task in waiting:
            task.cancel()

    asyncio.run(run())


def test_a_lone_tenant_gets_every_slot() -> None:
    async def run() -> None:
        adm = Admission(GatewayReplicas(), clock=Clock())
        started, waiting = await _flood(adm, 6)
        assert (len(started), len(waiting)) == (4, 2)
        adm.leave(started[0], (100, 10))
        await asyncio.sleep(0)
        assert sum(t.done() for t in waiting) == 1
        for task in waiting:
            task.cancel()

    asyncio.run(run())


def test_the_headroom_returns_to_the_flood_once_the_quiet_tenant_is_gone() -> None:
    async def run() -> None:
        clock = Clock()
        adm = Admission(GatewayReplicas(), clock=clock)
        adm.leave(await _quiet_request(adm), (100, 10))
        started, waiting = await _flood(adm, 10)
        assert len(started) == 3
        clock.now += 4  # B still active: a freed slot goes to A, the headroom stays
        adm.leave(started[0], (100, 10))
        await asyncio.sleep(0)
        assert (adm.running(deployment().key), sum(t.done() for t in waiting)) == (3, 1)
        clock.now += 2  # B quiet for 6 s: no longer active; the next end fills both
        adm.leave(started[1], (100, 10))
        await asyncio.sleep(0)
        assert (adm.running(deployment().key), sum(t.done() for t in waiting)) == (4, 3)
        for task in waiting:
            task.cancel()

    asyncio.run(run())


def test_a_quiet_tenant_arriving_cold_waits_for_one_completion() -> None:
    async def run() -> None:
        adm = Admission(GatewayReplicas(), clock=Clock())
        started, waiting = await _flood(adm, 8)
        assert len(started) == 4  # B never seen: A alone takes every slot
        b = asyncio.create_task(_quiet_request(adm))
        await asyncio.sleep(0)
        assert not b.done()
        adm.leave(started[0], (100, 10))
        await asyncio.sleep(0)
        assert b.done()  # first in the fair queue
        adm.leave(started[1], (100, 10))
        await asyncio.sleep(0)
        assert sum(t.done() for t in waiting) == 0  # B still below its share: headroom
        for task in waiting:
            task.cancel()

    asyncio.run(run())

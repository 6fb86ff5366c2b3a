"""Tells the operator about demand: per ModelDeployment, the time of the latest
request and its keep_alive, written as annotations (throttled); refreshed every
10 s while requests are held or in flight so idleness never starts under them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ..kube.writer import KubeWriter
from ..routing.objects import Deployment
from ..routing.signals import WRITE_INTERVAL, demand_annotations, should_write

log = logging.getLogger(__name__)


class Demand:
    def __init__(self, writer: KubeWriter | None) -> None:
        self.writer = writer
        self.last_request: dict[str, float] = {}  # md key -> epoch seconds
        self.active: dict[str, int] = {}  # md key -> held + in flight
        self._where: dict[str, tuple[str, str]] = {}
        self._written: dict[str, float] = {}
        self._keep_alive: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def note(self, d: Deployment, keep_alive: int | None, urgent: bool = False) -> None:
        key, now = d.key, time.time()
        self.last_request[key] = now
        self._where[key] = (d.namespace, d.name)
        changed = keep_alive is not None and self._keep_alive.get(key) != keep_alive
        if keep_alive is not None:
            self._keep_alive[key] = keep_alive
        if should_write(now, self._written.get(key), urgent, changed):
            self._write(key, now)

    def begin(self, key: str) -> None:
        self.active[key] = self.active.get(key, 0) + 1

    def end(self, key: str) -> None:
        self.active[key] -= 1
        if not self.active[key]:
            del self.active[key]

    def _write(self, key: str, now: float) -> None:
        self._written[key] = now
        if self.writer is None:
            return
        ns, name = self._where[key]
        task = asyncio.create_task(
            self._patch(ns, name, demand_annotations(now, self._keep_alive.get(key)))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _patch(self, ns: str, name: str, values: dict[str, str]) -> None:
        assert self.writer is not None
        try:
            await self.writer.annotate(ns, name, values)
        except Exception as e:  # demand is advisory: the next write carries it
            log.warning("annotating %s/%s failed: %s", ns, name, e)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(WRITE_INTERVAL)
            now = time.time()
            for key in list(self.active):
                self.last_request[key] = now
                self._write(key, now)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)

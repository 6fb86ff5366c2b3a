"""Holding requests for a ModelDeployment with no ready replica: bounded per
ModelDeployment, woken by the watch when a pod turns ready, answered with a
clean error on timeout or gateway shutdown (nothing hangs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..kube.store import Store
from ..routing.objects import Deployment
from ..routing.table import Found


class HoldFull(Exception):
    pass


class HoldTimedOut(Exception):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment


class ShuttingDown(Exception):
    pass


@dataclass
class HoldLimits:
    timeout: float
    max_per_model: int


class Holds:
    def __init__(self, store: Store, limits: HoldLimits) -> None:
        self.store = store
        self.limits = limits
        self.held: dict[str, int] = {}
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        """Gateway shutdown: every hold ends now with the shutting-down error."""
        self.stopping.set()

    def _current(self, name: str, key: str) -> Deployment | None:
        found = self.store.table.resolve(name)
        if isinstance(found, Found) and found.deployment.key == key:
            return found.deployment
        return None

    async def wait_ready(
        self, name: str, deployment: Deployment, on_start: Callable[[], Awaitable[None]]
    ) -> Deployment:
        """The deployment once it has a ready endpoint."""
        key = deployment.key
        if self.held.get(key, 0) >= self.limits.max_per_model:
            raise HoldFull()
        self.held[key] = self.held.get(key, 0) + 1
        deadline = time.monotonic() + self.limits.timeout
        try:
            await on_start()
            while True:
                current = self._current(name, key) or deployment
                if current.ready:
                    return current
                if self.stopping.is_set():
                    raise ShuttingDown()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HoldTimedOut(current)
                stop = asyncio.ensure_future(self.stopping.wait())
                change = asyncio.ensure_future(self.store.wait_changed())
                try:
                    await asyncio.wait(
                        {stop, change}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    stop.cancel()
                    change.cancel()
        finally:
            self.held[key] -= 1
            if not self.held[key]:
                del self.held[key]

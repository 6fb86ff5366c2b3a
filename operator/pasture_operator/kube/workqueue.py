"""A deduplicating work queue (controller-runtime semantics, asyncio flavour).

A key queued many times while waiting is processed once; a key is never
processed by two workers at once; a key queued while being processed runs
again afterwards. Failed keys come back after an exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

logger = logging.getLogger(__name__)


class WorkQueue:
    def __init__(
        self,
        handler: Callable[[Hashable], Awaitable[None]],
        workers: int = 8,
        max_backoff: float = 60.0,
    ) -> None:
        self._handler = handler
        self._workers = workers
        self._max_backoff = max_backoff
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, key: Hashable) -> None:
        if key in self._active:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, key)

    def __len__(self) -> int:
        return len(self._queued) + len(self._active)

    def __contains__(self, key: Hashable) -> bool:
        """Whether `key` waits to be processed (or to run again once done)."""
        return key in self._queued or key in self._dirty

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"pasture-worker-{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await self._handler(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                delay = min(self._max_backoff, 0.5 * 2 ** (n - 1))
                logger.exception(
                    "reconcile of %s failed (attempt %d); retry in %.1fs", key, n, delay
                )
                self.add_after(key, delay)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)

"""Admission control: at most `max_running` generation requests in flight,
at most `max_waiting` queued behind them (FIFO), the rest refused with
Ollama's 503 "server busy" and a Retry-After header.

Our own queue (not vLLM's) so that the count the autoscaler reads
(running + waiting) is exact, and so overload is refused before any work."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Protocol

from .errors import BUSY, SHUTTING_DOWN, OllamaError

RETRY_AFTER_SECONDS = 1


class Slot(Protocol):
    """What one engine request runs under: a ticket, or one borrowed from the
    ticket of a list whose items run one after another on it."""

    async def wait(self) -> None: ...

    def release(self) -> None: ...


class Ticket:
    """One admitted request: waits for a running slot, then releases it."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._future: asyncio.Future[None] | None = None
        self.running = False
        self.released = False

    async def wait(self) -> None:
        """Block until running; cancel-safe (a cancelled waiter leaves the queue)."""
        if self.running or self._future is None:
            return
        try:
            await self._future
        except asyncio.CancelledError:
            self.release()
            raise

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self._admission._leave(self)

    def borrow(self) -> Borrowed:
        """A slot for one engine request run on this ticket; the owner of the
        ticket, not the borrower, releases it (once its last request ended)."""
        return Borrowed(self)


class Borrowed:
    def __init__(self, owner: Ticket) -> None:
        self.owner = owner

    async def wait(self) -> None:
        await self.owner.wait()

    def release(self) -> None:
        pass


class Admission:
    def __init__(self, max_running: int, max_waiting: int) -> None:
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.running = 0
        self._queue: collections.deque[Ticket] = collections.deque()
        self._idle = asyncio.Event()
        self._idle.set()
        # Last time a request made progress (admitted or produced a token).
        self.last_progress = time.monotonic()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return self.running + self.waiting

    def enter(self) -> Ticket:
        """Admit a request now (running or queued) or raise the busy 503."""
        ticket = Ticket(self)
        if self.in_flight == 0:
            self.progress()  # idle time before this request is not a stall
        if self.running < self.max_running and not self._queue:
            self.running += 1
            ticket.running = True
        elif len(self._queue) < self.max_waiting:
            ticket._future = asyncio.get_running_loop().create_future()
            self._queue.append(ticket)
        else:
            raise OllamaError(503, BUSY, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        self._idle.clear()
        return ticket

    def enter_many(self, count: int) -> list[Ticket]:
        """Admit `count` requests at once, or none (the busy 503): a list
        request never holds part of its tickets when it is refused."""
        free_running = self.max_running - self.running if not self._queue else 0
        if count > max(free_running, 0) + self.max_waiting - len(self._queue):
            raise OllamaError(503, BUSY, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return [self.enter() for _ in range(count)]

    def refuse_waiting(self) -> None:
        """Fail every queued ticket with the shutting-down 503 (a drain that
        timed out): aborted requests must not hand their slots to new work."""
        while self._queue:
            ticket = self._queue.popleft()
            if ticket._future is not None and not ticket._future.done():
                ticket._future.set_exception(OllamaError(503, SHUTTING_DOWN))
                ticket._future.exception()  # retrieved: no warning if never awaited
        if self.in_flight == 0:
            self._idle.set()

    def _leave(self, ticket: Ticket) -> None:
        if ticket.running:
            self.running -= 1
            ticket.running = False
        elif ticket in self._queue:
            self._queue.remove(ticket)
        # Hand free slots to the oldest waiters.
        while self._queue and self.running < self.max_running:
            nxt = self._queue.popleft()
            self.running += 1
            nxt.running = True
            if nxt._future is not None and not nxt._future.done():
                nxt._future.set_result(None)
        if self.in_flight == 0:
            self._idle.set()

    def progress(self) -> None:
        self.last_progress = time.monotonic()

    def stalled(self, timeout: float) -> bool:
        """Work is pending but nothing progressed for `timeout` seconds."""
        return self.in_flight > 0 and time.monotonic() - self.last_progress > timeout

    async def wait_idle(self, seconds: float) -> bool:
        """True if every admitted request finished within `seconds`."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True

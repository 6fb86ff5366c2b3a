"""Graceful drain on SIGTERM: readiness goes false and new requests get 503
at once; admitted requests may finish for up to drain_timeout_seconds; the
rest are then aborted in the engine, and the server is told to exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .metrics import DRAIN_ENDPOINT
from .state import Runtime

log = logging.getLogger(__name__)


async def drain(rt: Runtime, grace: float, on_done: Callable[[], None]) -> None:
    rt.draining = True
    pending = rt.admission.in_flight if rt.admission else 0
    log.info("draining", extra={"fields": {"in_flight": pending, "timeout_s": grace}})
    try:
        if rt.admission is not None and not await rt.admission.wait_idle(grace):
            left = sorted(rt.engine.active) if rt.engine else []
            log.warning("drain timeout: aborting", extra={"fields": {"requests": len(left)}})
            # Queued requests are refused, not handed the slots the aborts free.
            rt.admission.refuse_waiting()
            for _ in left:
                rt.metrics.aborted.labels(
                    model=rt.model_label, endpoint=DRAIN_ENDPOINT, reason="drain_timeout"
                ).inc()
            if rt.engine is not None:
                await rt.engine.abort_all()
            # Let the aborted streams write their last line before closing.
            await rt.admission.wait_idle(5)
        log.info("drained")
    finally:
        on_done()


def start_drain(rt: Runtime, timeout: float, on_done: Callable[[], None]) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(drain(rt, timeout, on_done))

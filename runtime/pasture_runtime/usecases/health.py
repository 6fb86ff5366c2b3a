"""The probes' answers (liveness, startup, readiness): (ok, status) from the
engine's and the admission's state."""

from __future__ import annotations

from ..state import Runtime

Status = tuple[bool, str]


def liveness(rt: Runtime) -> Status:
    """The process serves HTTP, the engine (if started) is alive, and it is not
    wedged: requests pending with no token for the (generous) liveness stall
    window. Cheap: no engine call."""
    if rt.engine is not None and rt.engine.dead:
        return False, "engine dead"
    window = rt.config.server.liveness_stall_timeout_seconds
    if rt.admission is not None and rt.admission.stalled(window):
        return False, f"stalled: requests pending but no token produced for over {window:g} s"
    return True, "ok"


def startup(rt: Runtime) -> Status:
    """The engine is up (and alive)."""
    if rt.engine is None:
        return False, "loading"
    if rt.engine.dead:
        return False, "engine dead"
    return True, "ok"


async def readiness(rt: Runtime) -> Status:
    """Engine loaded and healthy, not draining, not stalled."""
    if rt.draining:
        return False, "draining"
    if rt.engine is None or rt.admission is None:
        return False, "loading"
    if not await rt.engine.check_health():
        return False, "engine unhealthy"
    if rt.admission.stalled(rt.config.server.stall_timeout_seconds):
        return False, "stalled: requests pending but no token produced"
    return True, "ok"

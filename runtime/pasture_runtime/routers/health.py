"""Liveness, readiness and /metrics. Probes are not counted in API metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..state import Runtime

router = APIRouter()


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process serves HTTP, the engine (if started) is alive, and
    it is not wedged: requests pending with no token for the (generous)
    liveness stall window restart the container. Cheap: no engine call."""
    rt = _rt(request)
    if rt.engine is not None and rt.engine.dead:
        return JSONResponse({"status": "engine dead"}, status_code=503)
    window = rt.config.server.liveness_stall_timeout_seconds
    if rt.admission is not None and rt.admission.stalled(window):
        reason = f"stalled: requests pending but no token produced for over {window:g} s"
        return JSONResponse({"status": reason}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/startupz", include_in_schema=False)
async def startupz(request: Request) -> JSONResponse:
    """Startup: 200 only once the engine is up. The startup probe targets it,
    so its budget (startupTimeoutSeconds) bounds weight loading: a hung load
    (stalled hub fetch, NCCL init) is restarted instead of waiting forever."""
    rt = _rt(request)
    if rt.engine is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    if rt.engine.dead:
        return JSONResponse({"status": "engine dead"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readiness(rt: Runtime) -> tuple[bool, str]:
    if rt.draining:
        return False, "draining"
    if rt.engine is None or rt.admission is None:
        return False, "loading"
    if not await rt.engine.check_health():
        return False, "engine unhealthy"
    if rt.admission.stalled(rt.config.server.stall_timeout_seconds):
        return False, "stalled: requests pending but no token produced"
    return True, "ok"


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: engine loaded and healthy, not draining, not stalled."""
    rt = _rt(request)
    ok, reason = await readiness(rt)
    rt.metrics.ready.labels(model=rt.model_label).set(1 if ok else 0)
    return JSONResponse({"status": reason}, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    rt = _rt(request)
    ok, _ = await readiness(rt)
    rt.metrics.ready.labels(model=rt.model_label).set(1 if ok else 0)
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)

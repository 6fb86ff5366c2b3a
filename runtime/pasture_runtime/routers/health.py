"""Liveness, readiness and /metrics. Probes are not counted in API metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..usecases import health
from .deps import runtime

router = APIRouter()


def _probe(ok: bool, status: str) -> JSONResponse:
    return JSONResponse({"status": status}, status_code=200 if ok else 503)


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    """Liveness: a failure restarts the container (usecases/health.py)."""
    return _probe(*health.liveness(runtime(request)))


@router.get("/startupz", include_in_schema=False)
async def startupz(request: Request) -> JSONResponse:
    """Startup: 200 only once the engine is up. The startup probe targets it,
    so its budget (startupTimeoutSeconds) bounds weight loading: a hung load
    (stalled hub fetch, NCCL init) is restarted instead of waiting forever."""
    return _probe(*health.startup(runtime(request)))


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: engine loaded and healthy, not draining, not stalled."""
    rt = runtime(request)
    ok, reason = await health.readiness(rt)
    rt.metrics.ready.labels(model=rt.model_label).set(1 if ok else 0)
    return _probe(ok, reason)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    rt = runtime(request)
    ok, _ = await health.readiness(rt)
    rt.metrics.ready.labels(model=rt.model_label).set(1 if ok else 0)
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)

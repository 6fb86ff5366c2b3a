"""Probes and metrics: /healthz (the process answers), /readyz (every watch
has listed once, so the routing table is the cluster's), /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..kube.store import Store
from ..metrics import GatewayMetrics


def routes(store: Store, metrics: GatewayMetrics) -> list[BaseRoute]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if store.synced:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "syncing"}, status_code=503)

    async def prometheus(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]

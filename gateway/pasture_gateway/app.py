"""Wiring: the store fed by the watches, the use cases, the routes."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp

from .audit import AuditLog
from .auth import ApiKeys
from .kube import peers, watch
from .kube.peers import GatewayReplicas
from .kube.store import Store
from .kube.writer import KubeWriter
from .metrics import GatewayMetrics
from .middleware import GatewayMiddleware
from .routers import cluster, manage, ops
from .routers.proxy import PROXIED, ProxyRoute
from .settings import Settings
from .upstream.client import Upstream
from .usecases.admission import Admission
from .usecases.demand import Demand
from .usecases.forward import Forwarder
from .usecases.hold import HoldLimits, Holds
from .usecases.listing import Listings
from .usecases.manage_plan import ManageDefaults
from .usecases.manage_pull import Manage


@dataclass
class Gateway:
    settings: Settings
    store: Store
    holds: Holds
    demand: Demand
    forwarder: Forwarder
    listings: Listings
    upstream: Upstream
    metrics: GatewayMetrics
    kube: httpx.AsyncClient | None
    manage: Manage | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        if self.settings.objects_file:
            load_objects(self.store, Path(self.settings.objects_file))
        if self.kube is not None:
            for src in watch.sources(self.settings.namespaces):
                self.tasks.append(asyncio.create_task(watch.run(self.kube, src, self.store)))
            self._watch_peers(self.kube)
        self.tasks.append(asyncio.create_task(self.demand.refresh_forever()))

    def _watch_peers(self, kube: httpx.AsyncClient) -> None:
        replicas = self.forwarder.admission.replicas
        namespace = peers.own_namespace(self.settings.peers_namespace)
        if replicas.name and namespace:
            src = peers.source(namespace)
            self.tasks.append(asyncio.create_task(watch.run(kube, src, replicas)))

    async def stop(self) -> None:
        self.holds.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.demand.close()
        await self.upstream.close()
        if self.kube is not None:
            await self.kube.aclose()


def load_objects(store: Store, path: Path) -> None:
    """A fixed routing table from a YAML stream of API objects."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    for kind in ("Model", "ModelDeployment", "Pod"):
        store.replace(kind, "", [d for d in docs if d.get("kind") == kind])


def build(settings: Settings, kube: httpx.AsyncClient | None) -> Gateway:
    store = Store(expected_lists=3 * max(len(settings.namespaces), 1))
    holds = Holds(store, HoldLimits(settings.hold_timeout, settings.max_held))
    writer = KubeWriter(kube) if kube is not None else None
    demand = Demand(writer)
    upstream = Upstream()
    metrics = GatewayMetrics()
    key = ApiKeys(settings.upstream_key_file) if settings.upstream_key_file else None
    replicas = GatewayReplicas(settings.peers_deployment)
    admission = Admission(replicas, settings.fair_queueing, settings.max_queued, metrics=metrics)
    forwarder = Forwarder(settings, store, holds, demand, upstream, metrics, writer, key, admission)
    listings = Listings(store, demand, upstream, key)
    gateway = Gateway(settings, store, holds, demand, forwarder, listings, upstream, metrics, kube)
    if writer is not None and settings.management:
        gateway.manage = Manage(store, writer, manage_defaults(settings), settings.pull_timeout)
    return gateway


def manage_defaults(s: Settings) -> ManageDefaults:
    ns = s.manage_namespace or (s.namespaces[0] if s.namespaces else "default")
    return ManageDefaults(
        ns, s.manage_cache_size, s.manage_storage_class, s.manage_gpu_profile,
        s.manage_idle_timeout, s.manage_max_replicas,
    )  # fmt: skip


async def _http_error(_: Request, exc: Exception) -> Response:
    # Go's net/http wording, as Ollama answers unknown paths and methods.
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    text = {404: "404 page not found", 405: "405 method not allowed"}.get(code, str(code))
    return PlainTextResponse(text, status_code=code)


def create_app(gateway: Gateway) -> ASGIApp:
    s = gateway.settings
    audit_log = AuditLog(enabled=s.audit)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()
            audit_log.flush()  # the last records, buffered up to 0.1 s (pasture_access.audit)

    proxy = ProxyRoute(gateway.forwarder, s.max_body_bytes)
    show = cluster.ShowRoute(gateway.listings, gateway.forwarder, s.max_body_bytes)
    managing = manage.ManageRoutes(gateway.manage, s.manage_anonymous)
    routes = [
        *cluster.routes(gateway.listings),
        *ops.routes(gateway.store, gateway.metrics),
        *managing.routes(),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    keys = ApiKeys(s.api_keys_file, os.environ.get("PASTURE_API_KEYS"))
    direct: dict[str, ASGIApp] = {p: proxy for p in PROXIED}
    direct["/api/show"] = show
    for path in ("/api/generate", "/api/chat"):  # `ollama stop` never wakes a model
        direct[path] = manage.StopGuard(proxy, gateway.store, gateway.demand, s.max_body_bytes)
    return GatewayMiddleware(app, keys, direct, gateway.metrics, audit_log)

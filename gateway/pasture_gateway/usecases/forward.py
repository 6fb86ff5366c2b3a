"""Forwarding one proxied request: parse the body once, resolve its model,
hold it through scale-from-zero, choose a replica, open the upstream request;
retry on another replica after a connect failure or the runtime's busy 503,
never after a byte went to the client (the router streams what this returns)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..auth import ApiKeys
from ..identity import ANONYMOUS, Identity
from ..kube.store import Store
from ..kube.writer import KubeWriter
from ..metrics import GatewayMetrics
from ..protocol import errors
from ..protocol.errors import ErrorReply
from ..protocol.requests import Routed, parse
from ..protocol.usage import NO_USAGE
from ..routing.names import display_name
from ..routing.objects import Deployment
from ..routing.picker import choose
from ..routing.table import Conflict, NotFound
from ..settings import Settings
from ..upstream.client import ConnectFailed, MidStreamFailure, Upstream, UpstreamResponse
from .admission import Admission, Ticket
from .demand import Demand
from .hold import HoldFull, Holds, HoldTimedOut, ShuttingDown

log = logging.getLogger(__name__)
# The runtime's 503s that mean "try another replica" (nothing was generated).
RETRYABLE_503 = (errors.BUSY, errors.SHUTTING_DOWN, "model is still loading, please try again")
# Who the call is for, to runtimes (logs, metrics there); never taken from the client.
KEY_ID_HEADER = "x-pasture-key-id"
TENANT_HEADER = "x-pasture-tenant"
_SET_HERE = frozenset({"x-request-id", KEY_ID_HEADER, TENANT_HEADER})
UNGATED = frozenset({"/api/show"})  # answers from the model's files, no engine slot


@dataclass(frozen=True)
class Call:
    path: str
    method: str
    headers: tuple[tuple[str, str], ...]  # the client's, hop-by-hop removed
    body: bytes
    request_id: str
    identity: Identity = ANONYMOUS
    # The ASGI scope's state: "model", "status", "usage" are set for the audit
    # record (written by the middleware once the call is answered).
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lease:
    """One request in flight on one replica (released exactly once)."""

    deployment: str  # namespace/name
    address: str
    model: str  # metrics label
    pod: str


@dataclass
class Opened:
    """An upstream response whose status and headers are known, body unread."""

    response: UpstreamResponse
    lease: Lease
    endpoint: str
    identity: Identity = ANONYMOUS
    ticket: Ticket | None = None
    strip_usage: bool = False  # the usage chunk was asked for by the gateway, not the client
    prefetched: bytes | None = None  # a 503 body read to decide on a retry
    released: bool = False


def model_label(d: Deployment) -> str:
    return display_name(d.served_names[0]) if d.served_names else d.name


def _retryable_503(body: bytes) -> bool:
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return False
    if isinstance(message, dict):  # OpenAI's shape on /v1/
        message = message.get("message")
    return message in RETRYABLE_503


class Forwarder:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        holds: Holds,
        demand: Demand,
        upstream: Upstream,
        metrics: GatewayMetrics,
        writer: KubeWriter | None,
        upstream_key: ApiKeys | None,
        admission: Admission,
    ) -> None:
        self.settings = settings
        self.store = store
        self.holds = holds
        self.demand = demand
        self.upstream = upstream
        self.metrics = metrics
        self.writer = writer
        self.upstream_key = upstream_key
        self.admission = admission
        self.loads: dict[str, int] = {}  # replica address -> requests in flight here
        self._turn = 0

    def count(self, model: str, endpoint: str, code: int) -> None:
        self.metrics.requests.labels(model=model, endpoint=endpoint, code=str(code)).inc()

    async def forward(self, call: Call) -> ErrorReply | Opened:
        started = time.monotonic()
        routed = parse(call.path, call.body)
        if isinstance(routed, ErrorReply):
            self.count("", call.path, routed.status)
            return routed
        call.state["model"] = routed.model
        if not call.identity.allows(routed.model):  # before any lookup: reveals nothing
            self.count("", call.path, 403)
            return errors.model_forbidden(routed.model)
        found = self.store.table.resolve(routed.model)
        if isinstance(found, NotFound):
            self.count("", call.path, 404)
            return errors.not_found(call.path, routed.model)
        if isinstance(found, Conflict):
            self.count("", call.path, 409)
            return errors.conflict(routed.model, found.deployments)
        d = found.deployment
        refused = self.admission.check_limits(call.identity)
        if refused is not None:
            self.count(model_label(d), call.path, refused.status)
            return refused
        self.demand.begin(d.key)
        try:
            out = await self._serve(call, routed, d, started)
        except BaseException:
            self.demand.end(d.key)
            raise
        if isinstance(out, ErrorReply):
            self.demand.end(d.key)
            self.count(model_label(d), call.path, out.status)
        return out

    async def _serve(
        self, call: Call, routed: Routed, d: Deployment, started: float
    ) -> ErrorReply | Opened:
        self.demand.note(d, routed.keep_alive)
        if not d.ready:
            held = await self._hold(routed.model, d)
            if isinstance(held, ErrorReply):
                return held
            d, started = held, time.monotonic()
        ticket = None
        if call.path not in UNGATED:
            entered = await self.admission.enter(d, call.identity, len(call.body), model_label(d))
            if isinstance(entered, ErrorReply):
                return entered
            if entered.turn is not None:  # it waited for a fair turn: not the gateway's time
                d, started = self._fresh(d), time.monotonic()
            ticket = entered
        self.metrics.added_seconds.labels(endpoint=call.path).observe(time.monotonic() - started)
        if routed.usage_body is not None:
            call = dataclasses.replace(call, body=routed.usage_body)
        try:
            out = await self._attempts(call, d, routed.prefix)
        except BaseException:
            if ticket is not None:
                self.admission.leave(ticket, NO_USAGE)
            raise
        if isinstance(out, ErrorReply):
            if ticket is not None:
                self.admission.leave(ticket, NO_USAGE)
        else:
            out.ticket, out.strip_usage = ticket, routed.usage_body is not None
        return out

    async def _hold(self, name: str, d: Deployment) -> Deployment | ErrorReply:
        label, t0, outcome = model_label(d), time.monotonic(), "ready"
        self.metrics.held.labels(model=label).inc()
        try:
            return await self.holds.wait_ready(name, d, lambda: self._hold_started(d))
        except HoldFull:
            outcome = "full"
            return errors.hold_full(name, self.settings.max_held, self.settings.retry_after)
        except HoldTimedOut as e:
            outcome = "timeout"
            return errors.hold_timeout(name, e.deployment, self.settings.retry_after)
        except ShuttingDown:
            outcome = "shutdown"
            return errors.shutting_down()
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self.metrics.held.labels(model=label).dec()
            self.metrics.hold_seconds.labels(model=label, outcome=outcome).observe(
                time.monotonic() - t0
            )

    async def _hold_started(self, d: Deployment) -> None:
        self.demand.note(d, None, urgent=True)
        if d.replicas != 0 or self.writer is None:
            return
        try:
            if await self.writer.wake(d.namespace, d.name):
                self.metrics.wakes.labels(model=model_label(d)).inc()
        except Exception as e:  # the hold still waits: another gateway or a person may scale it
            log.warning("scaling %s up from zero failed: %s", d.key, e)

    def _headers(self, call: Call) -> list[tuple[str, str]]:
        out = [(k, v) for k, v in call.headers if k.lower() not in _SET_HERE]
        out.append(("x-request-id", call.request_id))
        out.append((KEY_ID_HEADER, call.identity.key_id))
        out.append((TENANT_HEADER, call.identity.tenant))
        key = self.upstream_key.first() if self.upstream_key else None
        if key:
            out = [(k, v) for k, v in out if k.lower() != "authorization"]
            out.append(("authorization", f"Bearer {key}"))
        return out

    def _fresh(self, d: Deployment) -> Deployment:
        return self.store.table.deployments.get(d.key) or d

    async def _attempts(self, call: Call, d: Deployment, prefix: str | None) -> ErrorReply | Opened:
        tried: set[str] = set()
        busy = False
        for _ in range(self.settings.max_attempts):
            d = self._fresh(d)
            self._turn += 1
            members = [e.address for e in d.ready]
            address = choose(members, self.loads, d.strategy, prefix, tried, self._turn)
            if address is None:
                break
            tried.add(address)
            opened = await self._try(call, d, address)
            if isinstance(opened, Opened):
                return opened
            busy = busy or opened == "busy"
            self.metrics.retries.labels(model=model_label(d), reason=opened).inc()
        if busy:
            return ErrorReply(503, errors.BUSY, headers=(("Retry-After", "1"),))
        return errors.upstream_unavailable(model_label(d))

    async def _try(self, call: Call, d: Deployment, address: str) -> Opened | str:
        """The opened response, or why to try another replica ("connect" | "busy")."""
        pod = next((e.pod for e in d.ready if e.address == address), address)
        lease = Lease(d.key, address, model_label(d), pod)
        self._acquire(lease)
        t0 = time.monotonic()
        try:
            response = await self.upstream.open(
                address, call.method, call.path, self._headers(call), call.body
            )
        except ConnectFailed:
            self._drop(lease)
            return "connect"
        except BaseException:
            self._drop(lease)
            raise
        self.metrics.upstream_seconds.labels(model=model_label(d), endpoint=call.path).observe(
            time.monotonic() - t0
        )
        opened = Opened(response, lease, call.path, call.identity)
        if response.status == 503:
            try:
                opened.prefetched = await response.read()
            except MidStreamFailure:
                opened.prefetched = b""
            finally:
                response.close()
            if _retryable_503(opened.prefetched):
                self._drop(lease)
                return "busy"
        return opened

    def _acquire(self, lease: Lease) -> None:
        self.loads[lease.address] = self.loads.get(lease.address, 0) + 1
        self.metrics.in_flight.labels(model=lease.model, pod=lease.pod).inc()

    def _drop(self, lease: Lease) -> None:
        self.loads[lease.address] -= 1
        if not self.loads[lease.address]:
            del self.loads[lease.address]
            self.metrics.in_flight.remove(lease.model, lease.pod)  # no series for gone pods
        else:
            self.metrics.in_flight.labels(model=lease.model, pod=lease.pod).dec()

    def finish(self, opened: Opened, code: int, usage: tuple[int, int] = NO_USAGE) -> None:
        """The stream ended (done, failed or the client left): release once,
        charging the engine's token counts to the caller's limits and share."""
        if opened.released:
            return
        opened.released = True
        self._drop(opened.lease)
        if opened.ticket is not None:
            self.admission.leave(opened.ticket, usage)
        self.admission.charge_limits(opened.identity, usage)
        self.demand.end(opened.lease.deployment)
        self.count(opened.lease.model, opened.endpoint, code)

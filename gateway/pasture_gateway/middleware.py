"""The outermost ASGI layer: request ids (the client's X-Request-Id, or a new
one; echoed on the response and passed to the runtime) and API keys. Proxied
routes are dispatched from here straight to their handler, past Starlette's
middleware stack: every streamed chunk then crosses no send wrappers (they
cost a measurable share of the gateway's CPU at 32 streams, py-spy); those
handlers add the request id to their response headers themselves."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import audit
from .auth import ApiKeys, credentials
from .identity import INFER, METRICS, Identity
from .metrics import GatewayMetrics
from .protocol import refusals
from .protocol.errors import ErrorReply

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
OPEN_PROBES = frozenset({"/healthz", "/readyz"})  # never need a key, never audited
# Inference needs the `infer` scope; listings and /api/version need a valid key;
# management endpoints check `manage` in their own router.
INFERENCE = frozenset(
    {
        "/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/api/show",
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages",
        "/v1/responses",
    }
)  # fmt: skip
# Identity headers only the gateway sets (towards runtimes): never the client's.
FORWARDED_IDENTITY = (b"x-pasture-key-id", b"x-pasture-tenant")


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        keys: ApiKeys,
        direct: Mapping[str, ASGIApp],
        metrics: GatewayMetrics | None = None,
        audit_log: audit.AuditLog | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.direct = direct  # POST path -> handler that sets x-request-id itself
        self.metrics = metrics or GatewayMetrics()
        self.audit = audit_log or audit.AuditLog(enabled=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "x-pasture-key-id" in headers or "x-pasture-tenant" in headers:
            scope["headers"] = [
                h for h in scope["headers"] if h[0].lower() not in FORWARDED_IDENTITY
            ]
        rid = (headers.get("x-request-id") or uuid.uuid4().hex)[:128]
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        identity = self.keys.identify(credentials(headers))
        state["identity"] = identity
        if scope["path"] in PROBES:  # not API calls: never audited
            await self._dispatch(scope, receive, send, identity)
            return
        try:
            await self._dispatch(scope, receive, send, identity)
        finally:
            self._audit(scope, time.monotonic() - started)

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, identity: Identity | None
    ) -> None:
        state, path = scope["state"], scope["path"]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.setdefault("status", message["status"])
                hdrs = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in hdrs):
                    hdrs.append((b"x-request-id", state["request_id"].encode()))
                message = {**message, "headers": hdrs}
            await send(message)

        refusal = self._refusal(path, identity)
        if refusal is not None:
            state["status"] = refusal.status
            await send_refusal(send_with_id, path, refusal)
            return
        handler = self.direct.get(path)
        if handler is None:
            await self.app(scope, receive, send_with_id)
        elif scope["method"] != "POST":
            await _method_not_allowed(send_with_id)
        else:
            await handler(scope, receive, send)

    def _refusal(self, path: str, identity: Identity | None) -> ErrorReply | None:
        if path in OPEN_PROBES:
            return None
        if identity is None:
            return ErrorReply(401, refusals.UNAUTHORIZED, headers=(("WWW-Authenticate", "Bearer"),))
        needed = METRICS if path == "/metrics" else INFER if path in INFERENCE else None
        if needed is not None and not identity.may(needed):
            return ErrorReply(403, refusals.scope_forbidden(needed))
        return None

    def _audit(self, scope: Scope, seconds: float) -> None:
        call = audit.from_scope(scope, seconds)
        self.audit.write(call)
        tenant = call.identity.tenant if call.identity else ""  # no key: counted as "other"
        self.metrics.count_tenant(tenant, self.keys.tenants(), call.status, call.usage)


async def send_refusal(send: Send, path: str, reply: ErrorReply) -> None:
    """A 401/403 in the protocol's shape (Anthropic's too, on /v1/messages)."""
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send(
        {"type": "http.response.body", "body": refusals.body(path, reply.status, reply.message)}
    )


async def _method_not_allowed(send: Send) -> None:
    # Go's net/http wording, as Ollama answers.
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"POST")]
    await send({"type": "http.response.start", "status": 405, "headers": headers})
    await send({"type": "http.response.body", "body": b"405 method not allowed"})


def with_request_id(headers: list[tuple[bytes, bytes]], rid: str) -> list[tuple[bytes, bytes]]:
    if rid and not any(k == b"x-request-id" for k, _ in headers):
        headers.append((b"x-request-id", rid.encode()))
    return headers


async def send_reply(send: Send, path: str, reply: ErrorReply, rid: str = "") -> None:
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    with_request_id(headers, rid)
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body(path)})

"""One pure-ASGI middleware for cross-cutting concerns: request ids, auth
(the caller's identity and scopes), draining refusals, body-size limits, API
metrics, the access log and the audit record.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so streaming responses keep
their disconnect detection and nothing buffers a stream."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import audit
from .auth import ApiKeys, credentials
from .errors import BODY_TOO_LARGE, SHUTTING_DOWN, OllamaError
from .identity import INFER, MANAGE, METRICS, Call, Identity, call_var
from .logs import request_id_var
from .state import Runtime

log = logging.getLogger("pasture_runtime.access")

# Never counted in API metrics, never refused while draining, never need a key
# (/metrics may, see server.metrics_auth).
PROBES = frozenset({"/healthz", "/readyz", "/startupz", "/metrics"})
ENDPOINTS = frozenset(
    {
        "/", "/api/version", "/api/generate", "/api/chat", "/api/tags", "/api/ps",
        "/api/show", "/api/pull", "/api/push", "/api/create", "/api/copy",
        "/api/delete", "/api/embed", "/api/embeddings",
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
        "/v1/messages", "/v1/responses",
    }
)  # fmt: skip
# Routes with a path parameter: one label each, whatever the parameter.
PREFIXES = (("/api/blobs/", "/api/blobs"), ("/v1/models/", "/v1/models"))
# Scopes: inference needs `infer`, model management `manage`; listings and
# /api/version need any valid key.
INFERENCE = frozenset(
    {
        "/api/generate", "/api/chat", "/api/embed", "/api/embeddings", "/api/show",
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages",
        "/v1/responses",
    }
)  # fmt: skip
MANAGEMENT = frozenset({"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"})
UNAUTHORIZED = "unauthorized: a valid API key is required (Authorization: Bearer <key>)"
# The one label of every other path: the `endpoint` label takes values from a
# fixed set only, so junk paths (even unauthenticated) add no series.
OTHER = "other"


def endpoint_label(path: str) -> str:
    if path in ENDPOINTS:
        return path
    for prefix, label in PREFIXES:
        if path.startswith(prefix):
            return label
    return OTHER


def needed_scope(path: str) -> str | None:
    if path in INFERENCE:
        return INFER
    if path in MANAGEMENT or path.startswith("/api/blobs/"):
        return MANAGE
    return METRICS if path == "/metrics" else None


def _error_body(path: str, message: str, kind: str) -> bytes:
    if path == "/v1/messages":  # Anthropic's error shape for the Messages API
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    if path.startswith("/v1/"):  # OpenAI's error shape for the OpenAI routes
        return json.dumps(
            {"error": {"message": message, "type": kind, "param": None, "code": None}}
        ).encode()
    return json.dumps({"error": message}).encode()


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that counts body bytes as they arrive and refuses more than
    `limit` with the 413 (chunked bodies have no Content-Length to check
    first): whatever reads the body holds at most `limit` bytes of it."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise OllamaError(413, BODY_TOO_LARGE)
        return message

    return limited


class PastureMiddleware:
    def __init__(
        self, app: ASGIApp, runtime: Runtime, keys: ApiKeys, audit_log: audit.AuditLog | None = None
    ) -> None:
        self.app = app
        self.rt = runtime
        self.keys = keys
        self.audit = audit_log or audit.AuditLog(enabled=False)

    async def _reply(
        self, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id") or uuid.uuid4().hex
        rid = rid[:128]
        token = request_id_var.set(rid)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        probe = path in PROBES
        status_box: dict[str, Any] = {"status": 0}
        started = time.monotonic()
        identity = self.keys.identify(credentials(headers))
        if identity is not None:
            identity = identity.forwarded(
                headers.get("x-pasture-key-id"), headers.get("x-pasture-tenant")
            )
        state["identity"] = identity
        call_token = call_var.set(Call(identity) if identity else None)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            refusal = self._refusal(path, headers, probe, identity)
            if refusal is not None:
                status, body, extra = refusal
                await self._reply(send_wrapper, status, body, extra)
            else:
                limit = self.rt.config.server.max_body_bytes
                await self.app(scope, _limited(receive, limit), send_wrapper)
        finally:
            if not probe:
                self._record(scope, path, status_box["status"], time.monotonic() - started)
            call_var.reset(call_token)
            request_id_var.reset(token)

    def _refusal(
        self, path: str, headers: dict[str, str], probe: bool, identity: Identity | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        if probe and not (path == "/metrics" and self.rt.config.server.metrics_auth):
            return None
        if identity is None:
            return (
                401,
                _error_body(path, UNAUTHORIZED, "authentication_error"),
                [(b"www-authenticate", b"Bearer")],
            )
        scope = needed_scope(path)
        if scope is not None and not identity.may(scope):
            msg = f"forbidden: this API key does not have the {scope!r} scope"
            return 403, _error_body(path, msg, "permission_error"), []
        if probe:
            return None
        if self.rt.draining:
            self.rt.metrics.rejected.labels(model=self.rt.model_label, reason="draining").inc()
            return (
                503,
                _error_body(path, SHUTTING_DOWN, "api_error"),
                [
                    (b"retry-after", b"1"),
                    (b"connection", b"close"),
                ],
            )
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.rt.config.server.max_body_bytes:
            return 413, _error_body(path, BODY_TOO_LARGE, "invalid_request_error"), []
        return None

    def _record(self, scope: Scope, path: str, status: int, seconds: float) -> None:
        state = scope.get("state", {})
        outcome = state.get("outcome")
        if getattr(outcome, "aborted", False):
            status = 499  # client closed the request (nginx's convention)
        label = endpoint_label(path)
        m = self.rt.metrics
        m.requests.labels(model=self.rt.model_label, endpoint=label, status=str(status)).inc()
        m.duration.labels(model=self.rt.model_label, endpoint=label).observe(seconds)
        log.info(
            "request",
            extra={
                "fields": {
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "error": getattr(outcome, "error", None),
                }
            },
        )
        self._audit(scope, path, status, seconds)

    def _audit(self, scope: Scope, path: str, status: int, seconds: float) -> None:
        state = scope.get("state", {})
        outcome, call, client = state.get("outcome"), call_var.get(), scope.get("client")
        prompt, output = getattr(outcome, "prompt_tokens", 0), getattr(outcome, "output_tokens", 0)
        identity = state.get("identity")
        self.audit.write(
            audit.Call(
                request_id=str(state.get("request_id", "")),
                identity=identity if isinstance(identity, Identity) else None,
                client=str(client[0]) if client else None,
                method=str(scope.get("method", "")),
                endpoint=path,
                status=status,
                model=call.model if call else None,
                usage=(prompt, output) if outcome is not None else None,
                seconds=seconds,
            )
        )

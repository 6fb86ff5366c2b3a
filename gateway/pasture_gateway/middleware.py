"""The outermost ASGI layer: request ids (the client's X-Request-Id, or a new
one; echoed on the response and passed to the runtime) and API keys. Proxied
routes are dispatched from here straight to their handler, past Starlette's
middleware stack: every streamed chunk then crosses no send wrappers (they
cost a measurable share of the gateway's CPU at 32 streams, py-spy); those
handlers add the request id to their response headers themselves."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import ApiKeys
from .protocol.errors import UNAUTHORIZED, ErrorReply

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, keys: ApiKeys, direct: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.keys = keys
        self.direct = direct  # POST path -> handler that sets x-request-id itself

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = (headers.get("x-request-id") or uuid.uuid4().hex)[:128]
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                hdrs = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in hdrs):
                    hdrs.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": hdrs}
            await send(message)

        path: str = scope["path"]
        identity = self.keys.identify(headers.get("authorization"))
        scope["state"]["identity"] = identity
        if path not in PROBES and identity is None:
            await send_reply(
                send_with_id,
                path,
                ErrorReply(401, UNAUTHORIZED, headers=(("WWW-Authenticate", "Bearer"),)),
            )
            return
        handler = self.direct.get(path)
        if handler is None:
            await self.app(scope, receive, send_with_id)
        elif scope["method"] != "POST":
            await _method_not_allowed(send_with_id)
        else:
            await handler(scope, receive, send)


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

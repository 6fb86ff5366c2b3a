"""One pure-ASGI middleware: request ids (the client's X-Request-Id, or a new
one; echoed on the response and passed to the runtime) and API keys. Pure
ASGI so nothing buffers a stream."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import ApiKeys
from .protocol.errors import UNAUTHORIZED, ErrorReply

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

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
        if path not in PROBES and not self.keys.check(headers.get("authorization")):
            await send_reply(
                send_with_id,
                path,
                ErrorReply(401, UNAUTHORIZED, headers=(("WWW-Authenticate", "Bearer"),)),
            )
            return
        await self.app(scope, receive, send_with_id)


async def send_reply(send: Send, path: str, reply: ErrorReply) -> None:
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body(path)})

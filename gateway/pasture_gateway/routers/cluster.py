"""What the gateway answers itself: /, /api/version, /api/tags, /api/ps,
/v1/models, /api/show (forwarded to a ready replica, else from the Model)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from .. import OLLAMA_COMPAT_VERSION, __version__
from ..identity import Identity, identity_of
from ..middleware import send_reply
from ..protocol import errors
from ..protocol.errors import BODY_TOO_LARGE, ErrorReply
from ..usecases.forward import Forwarder
from ..usecases.listing import Forward, Listings
from .proxy import Disconnected, client_call, read_body, relay_call


def _reply(path: str, reply: ErrorReply) -> Response:
    headers = dict(reply.headers)
    return Response(reply.body(path), reply.status, headers, "application/json; charset=utf-8")


def _allowed(listed: dict[str, Any], field: str, name: str, who: Identity) -> dict[str, Any]:
    """A listing with only the models the caller's key may use."""
    if who.models == ("*",):
        return listed
    return {**listed, field: [e for e in listed[field] if who.allows(str(e.get(name)))]}


def _requested(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    name = doc.get("model") or doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None


def routes(listings: Listings) -> list[BaseRoute]:
    async def root(_: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def version(_: Request) -> Response:
        return JSONResponse({"version": OLLAMA_COMPAT_VERSION, "pasture_version": __version__})

    async def tags(request: Request) -> Response:
        listed = await listings.tags()
        return JSONResponse(_allowed(listed, "models", "name", identity_of(request.scope)))

    async def ps(request: Request) -> Response:
        return JSONResponse(_allowed(listings.ps(), "models", "name", identity_of(request.scope)))

    async def models(request: Request) -> Response:
        return JSONResponse(_allowed(listings.models(), "data", "id", identity_of(request.scope)))

    async def model(request: Request) -> Response:
        name = request.path_params["model"]
        if not identity_of(request.scope).allows(name):
            return _reply(request.url.path, errors.model_forbidden(name))
        out = listings.model(name)
        if isinstance(out, ErrorReply):
            return _reply(request.url.path, out)
        return JSONResponse(out)

    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", version, methods=["GET", "HEAD"]),
        Route("/api/tags", tags, methods=["GET", "HEAD"]),
        Route("/api/ps", ps, methods=["GET", "HEAD"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{model:path}", model, methods=["GET"]),
    ]


class ShowRoute:
    def __init__(self, listings: Listings, forwarder: Forwarder, max_body: int) -> None:
        self.listings = listings
        self.forwarder = forwarder
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        rid = str(scope.get("state", {}).get("request_id", ""))
        try:
            body = await read_body(receive, self.max_body)
        except Disconnected:
            return
        if body is None:
            await send_reply(send, path, ErrorReply(413, BODY_TOO_LARGE), rid)
            return
        name = _requested(body)
        if name is not None and not identity_of(scope).allows(name):
            scope["state"]["status"] = 403
            await send_reply(send, path, errors.model_forbidden(name), rid)
            return
        out = self.listings.show(body)
        if isinstance(out, Forward):
            await relay_call(self.forwarder, client_call(scope, out.body), receive, send)
        elif isinstance(out, ErrorReply):
            await send_reply(send, path, out, rid)
        else:
            await JSONResponse(out, headers={"x-request-id": rid})(scope, receive, send)

"""What the gateway answers itself: /, /api/version, /api/tags, /api/ps,
/v1/models, /api/show (forwarded to a ready replica, else from the Model)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from .. import OLLAMA_COMPAT_VERSION, __version__
from ..middleware import send_reply
from ..protocol.errors import BODY_TOO_LARGE, ErrorReply
from ..usecases.forward import Forwarder
from ..usecases.listing import Forward, Listings
from .proxy import Disconnected, client_call, read_body, relay_call


def _reply(path: str, reply: ErrorReply) -> Response:
    headers = dict(reply.headers)
    return Response(reply.body(path), reply.status, headers, "application/json; charset=utf-8")


def routes(listings: Listings) -> list[BaseRoute]:
    async def root(_: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def version(_: Request) -> Response:
        return JSONResponse({"version": OLLAMA_COMPAT_VERSION, "pasture_version": __version__})

    async def tags(_: Request) -> Response:
        return JSONResponse(await listings.tags())

    async def ps(_: Request) -> Response:
        return JSONResponse(listings.ps())

    async def models(_: Request) -> Response:
        return JSONResponse(listings.models())

    async def model(request: Request) -> Response:
        out = listings.model(request.path_params["model"])
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
        out = self.listings.show(body)
        if isinstance(out, Forward):
            await relay_call(self.forwarder, client_call(scope, out.body), receive, send)
        elif isinstance(out, ErrorReply):
            await send_reply(send, path, out, rid)
        else:
            await JSONResponse(out, headers={"x-request-id": rid})(scope, receive, send)

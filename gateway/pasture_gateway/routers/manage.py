"""The management routes (they change cluster objects): /api/pull, /api/create,
/api/copy, /api/delete, /api/blobs (refused: local files), and `ollama stop`
(an /api/generate or /api/chat with `keep_alive: 0` and nothing to answer).
Thin: parse, check the caller may manage, call the use case, stream its lines."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..identity import ANONYMOUS, MANAGE, Identity, identity_of
from ..middleware import send_reply
from ..protocol import refusals
from ..protocol.errors import BODY_TOO_LARGE, MISSING_BODY, MODEL_REQUIRED, ErrorReply
from ..routing.names import display_name
from ..routing.objects import Deployment
from ..usecases import manage_create, manage_delete, manage_pull
from ..usecases.demand import Demand
from ..usecases.manage_plan import LOCAL_WEIGHTS, plan_create
from ..usecases.manage_pull import Line, Manage
from .proxy import Disconnected, read_body

NDJSON = "application/x-ndjson"
OFF = (
    "model management is off: configure API keys with the `manage` scope, or set "
    "gateway.management.allowAnonymous for a trusted namespace (docs/cli.md)"
)
DISABLED = (
    "model management is disabled on this gateway (it runs without a cluster, or the "
    "chart's gateway.management.enabled is false)"
)
NO_SCOPE = "this API key may not manage models: it needs the `manage` scope"


def _error(reply: ErrorReply) -> Response:
    return JSONResponse({"error": reply.message}, reply.status)


def _audit(request: Request, change: str, status: int, model: str) -> None:
    state = request.scope.setdefault("state", {})
    state["change"], state["status"], state["model"] = change, status, model


class ManageRoutes:
    def __init__(self, manage: Manage | None, allow_anonymous: bool) -> None:
        self.manage = manage
        self.allow_anonymous = allow_anonymous

    def _may(self, who: Identity) -> ErrorReply | None:
        if self.manage is None:
            return ErrorReply(403, DISABLED)
        if who is ANONYMOUS:
            return None if self.allow_anonymous else ErrorReply(403, OFF)
        return None if who.may(MANAGE) else ErrorReply(403, NO_SCOPE)

    def _unusable(self, request: Request, *names: str) -> ErrorReply | None:
        """403 for a name outside the key's model globs: decided from the name
        alone, before any lookup, so it reveals nothing (docs/tenancy.md)."""
        who = identity_of(request.scope)
        for name in names:
            if name.strip() and not who.allows(name):
                _audit(request, "", 403, name)
                return ErrorReply(403, refusals.model_forbidden(name))
        return None

    async def _body(self, request: Request) -> dict[str, Any] | ErrorReply:
        refused = self._may(identity_of(request.scope))
        if refused is not None:
            _audit(request, "", refused.status, "")
            return refused
        raw = await request.body()
        if not raw.strip():
            return ErrorReply(400, MISSING_BODY)
        try:
            doc = json.loads(raw)
        except ValueError as e:
            return ErrorReply(400, str(e))
        return doc if isinstance(doc, dict) else ErrorReply(400, "request body is not an object")

    def _stream(self, request: Request, doc: dict[str, Any], lines: AsyncIterator[Line],
                change: str, model: str) -> Response:  # fmt: skip
        async def tracked() -> AsyncIterator[Line]:
            status = 200
            async for line in lines:
                status = 500 if "error" in line else status
                yield line
            _audit(request, change if status == 200 else "", status, model)

        if doc.get("stream", True) is False:
            return _Collected(tracked())
        return StreamingResponse(
            (json.dumps(line) + "\n" async for line in tracked()), media_type=NDJSON
        )

    async def pull(self, request: Request) -> Response:
        doc = await self._body(request)
        if isinstance(doc, ErrorReply):
            return _error(doc)
        name = str(doc.get("model") or doc.get("name") or "")
        if not name.strip():
            return _error(ErrorReply(400, MODEL_REQUIRED))
        if refused := self._unusable(request, name):
            return _error(refused)
        assert self.manage is not None
        who = identity_of(request.scope)
        lines = manage_pull.pull(self.manage, name, who)
        return self._stream(request, doc, lines, f"pull {name}", name)

    async def create(self, request: Request) -> Response:
        doc = await self._body(request)
        if isinstance(doc, ErrorReply):
            return _error(doc)
        plan = plan_create(doc)
        if not plan.model.strip():
            return _error(ErrorReply(400, MODEL_REQUIRED))
        if plan.refused:
            return _error(ErrorReply(400, plan.refused))
        if refused := self._unusable(request, plan.model, plan.source):
            return _error(refused)
        assert self.manage is not None
        lines = manage_create.create(self.manage, plan, identity_of(request.scope))
        return self._stream(
            request, doc, lines, f"create {plan.model} from {plan.source}", plan.model
        )

    async def copy(self, request: Request) -> Response:
        doc = await self._body(request)
        if isinstance(doc, ErrorReply):
            return _error(doc)
        src, dst = str(doc.get("source") or ""), str(doc.get("destination") or "")
        if not src.strip() or not dst.strip():
            return _error(ErrorReply(400, "source and destination are required"))
        if refused := self._unusable(request, src, dst):
            return _error(refused)
        assert self.manage is not None
        out = await manage_create.copy(self.manage, src, dst, identity_of(request.scope))
        if out is not None:
            _audit(request, "", out.status, src)
            return _error(out)
        _audit(request, f"copy {src} to {dst}", 200, dst)
        return Response(status_code=200)

    async def delete(self, request: Request) -> Response:
        doc = await self._body(request)
        if isinstance(doc, ErrorReply):
            return _error(doc)
        name = str(doc.get("model") or doc.get("name") or "")
        if not name.strip():
            return _error(ErrorReply(400, f"name {name!r} is invalid"))
        if refused := self._unusable(request, name):
            return _error(refused)
        assert self.manage is not None
        out = await manage_delete.delete(self.manage, name, identity_of(request.scope))
        if out is not None:
            _audit(request, "", out.status, name)
            return _error(out)
        _audit(request, f"delete {name}", 200, name)
        return Response(status_code=200)

    async def blobs(self, request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=404)  # the client then uploads, and is told why not
        return _error(ErrorReply(400, LOCAL_WEIGHTS))

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/pull", self.pull, methods=["POST"]),
            Route("/api/create", self.create, methods=["POST"]),
            Route("/api/copy", self.copy, methods=["POST"]),
            Route("/api/delete", self.delete, methods=["DELETE"]),
            Route("/api/blobs/{digest}", self.blobs, methods=["HEAD", "POST"]),
        ]


class _Collected(Response):
    """`stream: false`: one answer at the end, the last line (Ollama's waitForStream)."""

    def __init__(self, lines: AsyncIterator[Line]) -> None:
        super().__init__(media_type="application/json")
        self.lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        last: Line = {}
        async for line in self.lines:
            last = line
        status = 200
        if "error" in last:
            status = 404 if "file does not exist" in str(last["error"]) else 500
        await JSONResponse(last, status)(scope, receive, send)


def _unload_of(body: bytes) -> str | None:
    """The model of a load/unload request with keep_alive 0 (`ollama stop`)."""
    if b"keep_alive" not in body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("prompt") or doc.get("messages"):
        return None
    keep = doc.get("keep_alive")
    if keep not in (0, "0", "0s", 0.0) or not isinstance(doc.get("model"), str):
        return None
    return str(doc["model"])


class StopGuard:
    """Wraps /api/generate and /api/chat: `ollama stop` tells the operator and
    answers as Ollama does, without waking a model at zero; every other request
    goes to the proxy with its body replayed."""

    def __init__(self, proxy: ASGIApp, store: Any, demand: Demand, max_body: int) -> None:
        self.proxy, self.store, self.demand, self.max_body = proxy, store, demand, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.max_body)
        except Disconnected:
            return
        if body is None:
            await send_reply(send, scope["path"], ErrorReply(413, BODY_TOO_LARGE))
            return
        model = _unload_of(body)
        if model is None:
            await self.proxy(scope, _replay(body, receive), send)
            return
        if not identity_of(scope).allows(model):  # as the proxy would: before any lookup
            await send_reply(send, scope["path"], ErrorReply(403, refusals.model_forbidden(model)))
            return
        out = manage_delete.stop(self.store.table, self.demand, model)
        if isinstance(out, ErrorReply):
            await send_reply(send, scope["path"], out)
            return
        await JSONResponse(_unloaded(scope["path"], model, out))(scope, receive, send)


def _unloaded(path: str, model: str, _: Deployment) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
    out: dict[str, Any] = {"model": display_name(model), "created_at": now, "done": True}
    out["done_reason"] = "unload"
    if path == "/api/chat":
        out["message"] = {"role": "assistant", "content": ""}
    else:
        out["response"] = ""
    return out


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again

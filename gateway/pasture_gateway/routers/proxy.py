"""The proxied routes, as raw ASGI: the body is read (bounded), the use case
opens the upstream response, and its bytes are relayed chunk by chunk as they
arrive. A client disconnect at any point (held, connecting, streaming)
cancels the work, which closes the upstream request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.types import Receive, Scope, Send

from ..identity import identity_of
from ..middleware import send_reply, with_request_id
from ..protocol.errors import ANTHROPIC_PATHS, BODY_TOO_LARGE, ErrorReply, anthropic_body
from ..protocol.usage import NO_USAGE, USAGE_EVENT_MARK, strip_usage_event, usage_from_tail
from ..upstream.client import HOP_BY_HOP, STREAM_ERRORS
from ..usecases.forward import Call, Forwarder, Opened

log = logging.getLogger(__name__)
PROXIED = (
    "/api/chat", "/api/generate", "/api/embed", "/api/embeddings",
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings",
    "/v1/messages", "/v1/responses",  # Anthropic Messages, OpenAI Responses
)  # fmt: skip
CLIENT_CLOSED = 499


class Disconnected(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body; None when it exceeds `limit`. Raises Disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def client_call(scope: Scope, body: bytes) -> Call:
    headers = tuple(
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k.decode("latin-1").lower() not in HOP_BY_HOP
    )
    state = scope.setdefault("state", {})
    rid = str(state.get("request_id", ""))
    return Call(scope["path"], scope["method"], headers, body, rid, identity_of(scope), state)


class ProxyRoute:
    def __init__(self, forwarder: Forwarder, max_body: int) -> None:
        self.forwarder = forwarder
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.max_body)
        except Disconnected:
            return
        if body is None:
            state = scope.setdefault("state", {})
            state["status"], state["usage"] = 413, NO_USAGE
            reply = ErrorReply(413, BODY_TOO_LARGE)
            await send_reply(send, scope["path"], reply, str(state.get("request_id", "")))
            return
        await relay_call(self.forwarder, client_call(scope, body), receive, send)


async def relay_call(forwarder: Forwarder, call: Call, receive: Receive, send: Send) -> None:
    work = asyncio.create_task(_answer(forwarder, call, send))
    watch = asyncio.create_task(_until_disconnect(receive))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, watch):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        with contextlib.suppress(asyncio.CancelledError):
            await work  # re-raises the work's own failure, if any


async def _answer(forwarder: Forwarder, call: Call, send: Send) -> None:
    call.state["status"], call.state["usage"] = CLIENT_CLOSED, NO_USAGE  # until answered
    out = await forwarder.forward(call)
    if isinstance(out, ErrorReply):
        call.state["status"] = out.status
        await send_reply(send, call.path, out, call.request_id)
        return
    await _stream(forwarder, out, send, call)


async def _stream(forwarder: Forwarder, opened: Opened, send: Send, call: Call) -> None:
    """Relays the body as it comes; only the last two chunks are kept, for the
    engine's token counts (read once, at the end: nothing parsed per chunk)."""
    response, rid = opened.response, call.request_id
    code = response.status
    call.state["status"] = code
    prev = last = b""
    headers = [(k.lower().encode(), v.encode()) for k, v in response.headers()]
    with_request_id(headers, rid)
    try:
        await send({"type": "http.response.start", "status": code, "headers": headers})
        if opened.prefetched is not None:
            last = opened.prefetched
            await send({"type": "http.response.body", "body": last})
            return
        strip, read = opened.strip_usage, response.reader()
        try:
            while chunk := await read():
                prev = last
                last = chunk
                if strip and USAGE_EVENT_MARK in chunk:
                    chunk = strip_usage_event(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except STREAM_ERRORS as e:  # the replica went away mid-stream: end with an error line
            log.warning("upstream %s failed mid-stream: %s", opened.lease.address, e)
            end = mid_stream_error(call.path, response.content_type)
            await send({"type": "http.response.body", "body": end})
            return
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        code = call.state["status"] = CLIENT_CLOSED
        raise
    finally:
        response.close()
        usage = usage_from_tail(prev + last)
        call.state["usage"] = usage
        forwarder.finish(opened, code, usage)


MID_STREAM = "upstream replica failed mid-stream"


def mid_stream_error(path: str, content_type: str) -> bytes:
    """The stream's last words when its replica went away: Ollama's error line,
    or the named `error` event of the Anthropic and Responses streams (their
    SDKs raise on it); OpenAI chat streams have no error event (they just end)."""
    if "ndjson" in content_type:
        return json.dumps({"error": MID_STREAM}).encode() + b"\n"
    if "event-stream" not in content_type:
        return b""
    if path in ANTHROPIC_PATHS:
        data = anthropic_body(500, MID_STREAM)
    elif path == "/v1/responses":
        data = json.dumps(
            {"type": "error", "code": "server_error", "message": MID_STREAM, "param": None}
        ).encode()
    else:
        return b""
    return b"event: error\ndata: " + data + b"\n\n"

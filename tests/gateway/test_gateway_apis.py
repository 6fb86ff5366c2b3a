"""The Anthropic Messages and OpenAI Responses APIs at the gateway (pure):
proxied by the body's model, the gateway's own errors in each protocol's
shape, their prompt prefix, and the engine's counts read from their bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from pasture_gateway.auth import ApiKeys
from pasture_gateway.middleware import INFERENCE, GatewayMiddleware
from pasture_gateway.protocol import errors
from pasture_gateway.protocol.errors import ErrorReply
from pasture_gateway.protocol.limit_refusals import queue_full, rate_limited
from pasture_gateway.protocol.requests import Routed, parse
from pasture_gateway.protocol.usage import usage_from_tail
from pasture_gateway.routers.proxy import PROXIED, mid_stream_error
from pasture_gateway.routing.limits import REQUESTS, Refusal

NEW_APIS = ("/v1/messages", "/v1/responses")


def test_both_apis_are_proxied_and_need_the_infer_scope() -> None:
    assert set(NEW_APIS) <= set(PROXIED)
    assert set(PROXIED) <= INFERENCE


@pytest.mark.parametrize(
    ("reply", "status", "kind"),
    [
        (errors.not_found("/v1/messages", "nope"), 404, "not_found_error"),
        (ErrorReply(400, errors.MODEL_REQUIRED), 400, "invalid_request_error"),
        (ErrorReply(413, errors.BODY_TOO_LARGE), 413, "request_too_large"),
        (errors.model_forbidden("x"), 403, "permission_error"),
        (rate_limited(Refusal("key:k", REQUESTS, 2, 30)), 429, "rate_limit_error"),
        (queue_full(), 503, "overloaded_error"),
        (errors.conflict("m", []), 409, "invalid_request_error"),
        (errors.upstream_unavailable("m"), 503, "overloaded_error"),
        (ErrorReply(500, "boom"), 500, "api_error"),
    ],
)
def test_anthropic_errors_are_anthropic_shaped(reply: ErrorReply, status: int, kind: str) -> None:
    assert reply.status == status
    body = json.loads(reply.body("/v1/messages"))
    assert body == {"type": "error", "error": {"type": kind, "message": reply.message}}


def test_responses_errors_are_openai_shaped() -> None:
    limited = rate_limited(Refusal("key:k", REQUESTS, 2, 30))
    body = json.loads(limited.body("/v1/responses"))
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert ("Retry-After", "30") in limited.headers
    missing = json.loads(errors.not_found("/v1/responses", "nope").body("/v1/responses"))
    assert missing["error"]["type"] == "not_found_error"
    assert missing["error"]["message"] == "model 'nope' not found"


@pytest.mark.parametrize("path", NEW_APIS)
@pytest.mark.parametrize(
    ("body", "status"),
    [(b"", 400), (b"{", 400), (b"[1]", 400), (b'{"max_tokens":8}', 400), (b'{"model":""}', 400)],
)
def test_a_bad_body_is_refused(path: str, body: bytes, status: int) -> None:
    out = parse(path, body)
    assert isinstance(out, ErrorReply)
    assert out.status == status


def _routed(path: str, doc: object) -> Routed:
    out = parse(path, json.dumps(doc).encode())
    assert isinstance(out, Routed)
    return out


def test_the_prompt_prefix_of_each_api() -> None:
    ask = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    plain = _routed("/v1/messages", {"model": "m", "system": "be brief", "messages": ask})
    blocks = [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]
    listed = _routed("/v1/messages", {"model": "m", "system": blocks, "messages": ask})
    assert plain.prefix == listed.prefix == "system:be brief"
    assert _routed("/v1/messages", {"model": "m", "messages": ask}).prefix == "user:hi"
    resp = _routed("/v1/responses", {"model": "m", "instructions": "be brief", "input": "x"})
    assert resp.prefix == "system:be brief"
    assert _routed("/v1/responses", {"model": "m", "input": "hello"}).prefix == "user:hello"
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}]
    assert _routed("/v1/responses", {"model": "m", "input": items}).prefix == "user:q"
    # Neither is asked for usage: their streams always carry it; no keep_alive on /v1/.
    streamed = _routed("/v1/responses", {"model": "m", "input": "x", "stream": True})
    assert (streamed.usage_body, streamed.keep_alive) == (None, None)


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def test_usage_of_a_responses_stream_and_body() -> None:
    usage = {
        "input_tokens": 11, "output_tokens": 7, "total_tokens": 18,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }  # fmt: skip
    done: dict[str, Any] = {
        "id": "resp_1",
        "output": [{"type": "message", "content": [{"text": "x" * 9000}]}],
    }
    done |= {"usage": usage, "max_output_tokens": 8, "metadata": {}}
    tail = _sse("response.output_item.done", {"item": {}}) + _sse(
        "response.completed", {"type": "response.completed", "response": done}
    )
    assert usage_from_tail(tail) == (11, 7)
    assert usage_from_tail(json.dumps(done).encode()) == (11, 7)  # not streamed


def test_usage_of_an_anthropic_stream_takes_the_closing_counts() -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 0}}}
    end = {"type": "message_delta", "usage": {"input_tokens": 5, "output_tokens": 8}}
    tail = _sse("message_start", start) + _sse("message_delta", end)
    assert usage_from_tail(tail + _sse("message_stop", {"type": "message_stop"})) == (5, 8)


def test_a_stream_cut_short_ends_with_its_protocols_error_event() -> None:
    sse = "text/event-stream; charset=utf-8"
    anthropic = mid_stream_error("/v1/messages", sse)
    assert anthropic.startswith(b"event: error\ndata: ")
    assert json.loads(anthropic.split(b"data: ")[1])["error"]["type"] == "api_error"
    responses = mid_stream_error("/v1/responses", sse)
    assert json.loads(responses.split(b"data: ")[1])["code"] == "server_error"
    assert mid_stream_error("/v1/chat/completions", sse) == b""
    assert b'"error"' in mid_stream_error("/api/chat", "application/x-ndjson")


async def test_anthropics_x_api_key_identifies_the_caller(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("sk-a\n")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gateway = GatewayMiddleware(app, ApiKeys(str(keys)), {})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(gateway), base_url="http://t") as c:

        async def status(**headers: str) -> int:
            return (await c.get("/api/tags", headers=headers)).status_code

        assert await status(**{"x-api-key": "sk-a"}) == 200  # the anthropic SDK's api_key
        assert await status(**{"x-api-key": "sk-b"}) == 401
        assert await status(authorization="Bearer sk-b", **{"x-api-key": "sk-a"}) == 401
        assert await status(authorization="Bearer sk-a") == 200

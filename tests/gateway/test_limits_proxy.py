"""Limits and the audit contract through the real gateway app (in-process,
the real aiohttp upstream client) in front of a stub runtime on a loopback
"pod" address (no engine needed: the stub answers with an engine's final
counts). 429 with Retry-After in each protocol's shape, recovery after the
window (clock injected); the caller's key id and tenant forwarded (never the
client's own); scope["state"] carries status, model and the engine's counts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from pasture_access import keyfile
from pasture_gateway.app import Gateway, build, create_app
from pasture_gateway.identity import ALL_SCOPES, Identity, Limits
from pasture_gateway.settings import Settings
from tests.gateway.objects import md, pod

STUB_IP = "127.0.0.73"
OLLAMA_FINAL = {"done": True, "prompt_eval_count": 12, "eval_count": 34}


class Stub:
    """A runtime's answers: Ollama NDJSON or OpenAI SSE with usage; records headers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.bodies: list[dict[str, Any]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                fields = dict(h.lower().split(": ", 1) for h in head[1:] if ": " in h)
                self.headers.append(fields)
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                self.bodies.append(json.loads(body))
                await self._answer(head[0].split(" ")[1], writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path.startswith("/v1/"):
            usage = {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}
            lines = [b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n']
            if (self.bodies[-1].get("stream_options") or {}).get("include_usage"):
                event = {"id": "c", "choices": [], "usage": usage}  # as the runtime writes it
                lines.append(
                    b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
                )
            lines.append(b"data: [DONE]\n\n")
            kind = b"text/event-stream"
        else:
            lines = [b'{"message":{"content":"hi"},"done":false}\n',
                     json.dumps(OLLAMA_FINAL).encode() + b"\n"]  # fmt: skip
            kind = b"application/x-ndjson"
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + kind +
                     b"\r\ntransfer-encoding: chunked\r\n\r\n")  # fmt: skip
        for line in lines:
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _identities(limits: Limits, tenant_limits: Limits) -> Callable[[str], Identity]:
    def identity(key: str) -> Identity:
        return Identity(f"id-{key}", "team-a", ALL_SCOPES, limits=limits,
                        tenant_limits=tenant_limits)  # fmt: skip

    return identity


class Recorder:
    """The outermost layer, as the audit middleware will be: reads the state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.states: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.states.append(dict(scope.get("state", {})))


class Rig:
    def __init__(self, client: httpx.AsyncClient, stub: Stub, clock: Clock, rec: Recorder):
        self.client, self.stub, self.clock, self.recorder = client, stub, clock, rec

    async def chat(
        self, path: str = "/api/chat", extra: dict[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        body = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], **(extra or {})}
        hdrs = {"authorization": "Bearer k1", **headers}
        return await self.client.post(path, json=body, headers=hdrs)


async def _rig(
    monkeypatch: pytest.MonkeyPatch, limits: Limits, tenant: Limits
) -> AsyncIterator[Rig]:
    monkeypatch.setattr(keyfile, "plain_key_identity", _identities(limits, tenant))
    monkeypatch.setenv("PASTURE_API_KEYS", "k1")
    stub, clock = Stub(), Clock()
    server = await asyncio.start_server(stub.serve, STUB_IP, 11434)
    gateway: Gateway = build(Settings(), None)
    gateway.store.replace("ModelDeployment", "", [md(served=("tiny:latest", "tiny"))])
    gateway.store.replace("Pod", "", [pod("tiny-0", ip=STUB_IP)])
    gateway.forwarder.admission.clock = clock
    recorder = Recorder(create_app(gateway))
    transport = httpx.ASGITransport(app=recorder)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield Rig(client, stub, clock, recorder)
    finally:
        await gateway.stop()
        server.close()


@pytest.fixture
async def two_per_minute(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    async for rig in _rig(monkeypatch, Limits(requests_per_minute=2), Limits()):
        yield rig


@pytest.fixture
async def fifty_tokens(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    async for rig in _rig(monkeypatch, Limits(), Limits(tokens_per_minute=50)):
        yield rig


async def test_identity_forwarded_and_state_set(two_per_minute: Rig) -> None:
    rig = two_per_minute
    forged = {"x-pasture-tenant": "someone-else", "x-pasture-key-id": "forged"}
    r = await rig.chat("/api/chat", None, **forged)
    assert r.status_code == 200
    assert r.text.endswith(json.dumps(OLLAMA_FINAL) + "\n")
    sent = rig.stub.headers[-1]
    assert (sent["x-pasture-key-id"], sent["x-pasture-tenant"]) == ("id-k1", "team-a")
    state = rig.recorder.states[-1]
    assert (state["status"], state["model"], state["usage"]) == (200, "tiny", (12, 34))
    r = await rig.chat("/v1/chat/completions", {"stream": True})
    assert rig.stub.bodies[-1]["stream_options"] == {"include_usage": True}  # asked for the client
    assert rig.recorder.states[-1]["usage"] == (5, 6)
    assert r.text == 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'


async def test_a_client_that_asks_for_usage_gets_it(fifty_tokens: Rig) -> None:
    rig = fifty_tokens
    asked = {"stream": True, "stream_options": {"include_usage": True}}
    r = await rig.chat("/v1/chat/completions", asked)
    assert '"usage":{"prompt_tokens":5' in r.text
    assert rig.recorder.states[-1]["usage"] == (5, 6)


async def test_requests_per_minute_in_each_protocols_shape(two_per_minute: Rig) -> None:
    rig = two_per_minute
    assert (await rig.chat()).status_code == 200
    assert (await rig.chat("/v1/chat/completions")).status_code == 200
    ollama = await rig.chat()
    assert ollama.status_code == 429
    assert ollama.headers["retry-after"] == "30"
    assert ollama.json()["error"].startswith("rate limit exceeded: key id-k1 may use 2 requests")
    openai = await rig.chat("/v1/chat/completions")
    assert openai.status_code == 429
    assert openai.headers["retry-after"] == "30"
    assert openai.json()["error"]["type"] == "rate_limit_error"
    assert rig.recorder.states[-1]["status"] == 429
    assert rig.recorder.states[-1]["usage"] == (0, 0)
    assert len(rig.stub.headers) == 2  # refused calls never reached the runtime
    rig.clock.now += 30
    assert (await rig.chat()).status_code == 200  # recovered after the window


async def test_tokens_per_minute_from_the_engines_counts(fifty_tokens: Rig) -> None:
    rig = fifty_tokens
    assert (await rig.chat()).status_code == 200  # 46 of 50 used
    assert (await rig.chat()).status_code == 200  # 4 left: passes, then 42 over
    refused = await rig.chat()
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "51"
    assert "tenant team-a may use 50 tokens per minute" in refused.json()["error"]
    rig.clock.now += 51
    assert (await rig.chat()).status_code == 200

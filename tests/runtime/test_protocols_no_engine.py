"""/v1/messages and /v1/responses errors that need no engine, each in its
protocol's shape (Anthropic's `{"type": "error", ...}`, OpenAI's
`{"error": {...}}`). Served in-process via ASGI, before the engine is up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pasture_runtime.app import create_app
from pasture_runtime.errors import OllamaError
from pasture_runtime.routers.named_events import named_sse
from pasture_runtime.translate import anthropic_response
from tests.runtime.harness import MODEL, tiny_config

ASK = {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def client(tmp_path: Path, **server: Any) -> httpx.AsyncClient:
    app = create_app(tiny_config(tmp_path, **server))  # lifespan not run: no engine
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _anthropic(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        ({**ASK, "model": "nope"}, 404, "not_found_error", "model 'nope' not found"),
        ({**ASK, "model": MODEL}, 503, "overloaded_error", None),
        ({**ASK}, 400, "invalid_request_error", "model is required"),
        ({**ASK, "model": MODEL, "max_tokens": 0}, 400, "invalid_request_error",
         "max_tokens is required and must be positive"),
        ({**ASK, "model": MODEL, "messages": []}, 400, "invalid_request_error",
         "messages is required"),
        ({**ASK, "model": MODEL, "messages": "hi"}, 400, "invalid_request_error", None),
    ],
)  # fmt: skip
async def test_messages_errors(
    tmp_path: Path, body: dict[str, Any], status: int, kind: str, message: str | None
) -> None:
    async with client(tmp_path) as c:
        r = await c.post("/v1/messages", json=body)
    assert r.status_code == status
    got = r.json()
    assert got == _anthropic(kind, message or got["error"]["message"])


async def test_messages_errors_before_the_route_are_anthropic_shaped(tmp_path: Path) -> None:
    async with client(tmp_path, max_body_bytes=64) as c:
        r = await c.post("/v1/messages", content=b"{not json")
        assert r.status_code == 400
        assert r.json()["type"] == "error"
        r = await c.post("/v1/messages", json={**ASK, "model": MODEL, "system": "x" * 100})
        assert r.status_code == 413
        assert r.json()["type"] == "error"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "nope", "input": "hi"}, 404, "model 'nope' not found"),
        ({"model": MODEL, "input": "hi", "previous_response_id": "resp_1"}, 400,
         "previous_response_id is not supported"),
        ({"model": MODEL, "input": [{"type": "item_reference", "id": "x"}]}, 400,
         'input[0]: unknown input item type: "item_reference"'),
    ],
)  # fmt: skip
async def test_responses_errors_are_openai_shaped(
    tmp_path: Path, body: dict[str, Any], status: int, message: str
) -> None:
    async with client(tmp_path) as c:
        r = await c.post("/v1/responses", json=body)
    assert r.status_code == status
    error = r.json()["error"]
    assert message in error["message"]
    assert error["type"]


async def test_openapi_describes_both_bodies(tmp_path: Path) -> None:
    async with client(tmp_path) as c:
        spec = (await c.get("/openapi.json")).json()
    for path, name in (("/v1/messages", "MessagesRequest"), ("/v1/responses", "ResponsesRequest")):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"] == f"#/components/schemas/{name}"
        assert "model" in spec["components"]["schemas"][name]["properties"]


async def test_a_failure_mid_stream_is_the_protocols_last_event() -> None:
    async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        yield "message_start", {"type": "message_start"}
        raise OllamaError(503, "request aborted: the server is shutting down")

    def failed(status: int, message: str) -> tuple[str, dict[str, Any]]:
        return "error", anthropic_response.error_body(status, message)

    out = [chunk async for chunk in named_sse(events(), failed)]
    assert out == [
        b'event: message_start\ndata: {"type":"message_start"}\n\n',
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"request aborted: the server is shutting down"}}\n\n',
    ]

"""/api/generate and /api/chat against the real engine, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.runtime.harness import MODEL, Served

pytestmark = pytest.mark.engine

METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
GREEDY = {"temperature": 0, "seed": 1}


async def post(server: Served, path: str, body: Any, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        return await c.post(path, json=body, **kw)


async def stream_lines(server: Served, path: str, body: Any) -> tuple[httpx.Response, list[Any]]:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as c,
        c.stream("POST", path, json=body) as r,
    ):
        raw = (await r.aread()).decode()
    assert raw.endswith("\n")
    assert "\n\n" not in raw  # NDJSON: no blank lines
    return r, [json.loads(line) for line in raw.splitlines()]


def assert_final(chunk: dict[str, Any]) -> None:
    assert chunk["done"] is True
    assert chunk["done_reason"] in ("stop", "length")
    for key in METRICS:
        assert isinstance(chunk[key], int), key
        assert chunk[key] > 0, key
    assert chunk["created_at"].endswith("Z")
    assert len(chunk["created_at"]) == 30


async def test_generate_streams_ndjson_with_final_metrics(server: Served) -> None:
    r, lines = await stream_lines(
        server, "/api/generate", {"model": "tiny", "prompt": "hi", "options": {"num_predict": 8}}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    *chunks, final = lines
    assert chunks, "tokens are streamed before the final chunk"
    for chunk in chunks:
        assert chunk["done"] is False
        assert chunk["model"] == "tiny"
        assert set(chunk) == {"model", "created_at", "response", "done"}
    assert_final(final)
    assert final["response"] == ""
    assert final["eval_count"] <= 8
    assert final["context"][-final["eval_count"] :]  # prompt + output token ids


async def test_generate_num_predict_is_eval_count_and_length(server: Served) -> None:
    r = await post(
        server,
        "/api/generate",
        {
            "model": MODEL,
            "prompt": "The quick brown fox",
            "stream": False,
            "options": {"num_predict": 5, **GREEDY},
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert_final(body)
    assert body["eval_count"] == 5
    assert body["done_reason"] == "length"
    assert len(body["context"]) == body["prompt_eval_count"] + 5


async def test_chat_stream_and_non_stream_agree_at_temperature_0(server: Served) -> None:
    msgs = [{"role": "user", "content": "Why is the sky blue?"}]
    opts = {"num_predict": 12, **GREEDY}
    r = await post(
        server, "/api/chat", {"model": MODEL, "messages": msgs, "stream": False, "options": opts}
    )
    assert r.status_code == 200, r.text
    whole = r.json()
    assert_final(whole)
    assert whole["message"]["role"] == "assistant"
    assert "context" not in whole
    _, lines = await stream_lines(
        server, "/api/chat", {"model": MODEL, "messages": msgs, "options": opts}
    )
    *chunks, final = lines
    assert_final(final)
    assert final["message"] == {"role": "assistant", "content": ""}
    streamed = "".join(c["message"]["content"] for c in chunks)
    assert streamed == whole["message"]["content"]
    assert final["eval_count"] == whole["eval_count"]
    assert final["prompt_eval_count"] == whole["prompt_eval_count"]

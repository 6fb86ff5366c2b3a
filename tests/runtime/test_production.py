"""Production behaviour: disconnects abort, admission 503, metrics, health,
auth, OpenAPI. Apps with special settings share the session's engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from pasture_runtime.engine import Engine
from tests.runtime.harness import MODEL, NoEosEngine, Served, serve, tiny_config, wait_until

pytestmark = pytest.mark.engine

LONG = {"num_predict": 1500, "temperature": 0}


@pytest.fixture(scope="module")
async def noeos(tiny_model_dir: Path, engine: Engine) -> Any:
    async with serve(
        tiny_config(tiny_model_dir, max_running=1, max_waiting=1), NoEosEngine(engine.llm)
    ) as s:
        yield s


def _idle(s: Served) -> bool:
    adm = s.runtime.admission
    assert adm is not None
    return not s.engine.active and s.engine.num_unfinished() == 0 and adm.in_flight == 0


async def test_stream_disconnect_aborts_engine_request(noeos: Served) -> None:
    body = {"model": MODEL, "prompt": "hi", "options": LONG}
    async with (
        httpx.AsyncClient(base_url=noeos.url, timeout=30) as c,
        c.stream("POST", "/api/generate", json=body) as r,
    ):
        lines = r.aiter_lines()
        first = json.loads(await lines.__anext__())
        assert first["done"] is False
        assert noeos.engine.active
        assert noeos.engine.num_unfinished() == 1
    # Leaving the block closed the connection mid-stream.
    assert await wait_until(lambda: _idle(noeos), within=1.0)


async def test_non_stream_disconnect_aborts_engine_request(noeos: Served) -> None:
    async with httpx.AsyncClient(base_url=noeos.url, timeout=30) as c:
        task = asyncio.create_task(
            c.post(
                "/api/chat",
                json={
                    "model": MODEL,
                    "stream": False,
                    "options": LONG,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
        )
        assert await wait_until(lambda: noeos.engine.num_unfinished() == 1, within=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await wait_until(lambda: _idle(noeos), within=1.0)


async def test_admission_queue_full_is_503_with_retry_after(noeos: Served) -> None:
    body = {"model": MODEL, "prompt": "hi", "options": LONG}
    async with (
        httpx.AsyncClient(base_url=noeos.url, timeout=30) as c,
        c.stream("POST", "/api/generate", json=body) as running,
    ):
        # Keep the line iterator referenced: a collected one closes the stream.
        running_lines = running.aiter_lines()
        await running_lines.__anext__()
        async with c.stream("POST", "/api/generate", json=body) as queued:
            assert queued.status_code == 200  # admitted into the queue (max_waiting=1)
            adm = noeos.runtime.admission
            assert adm is not None
            assert (adm.running, adm.waiting) == (1, 1)
            metrics = (await c.get("/metrics")).text
            metrics = "\n".join(ln for ln in metrics.splitlines() if "pasture_req" in ln)
            assert 'pasture_requests_running{model="tiny:latest"} 1.0' in metrics
            assert 'pasture_requests_waiting{model="tiny:latest"} 1.0' in metrics
            r = await c.post("/api/generate", json=body)
            assert r.status_code == 503
            assert r.json() == {
                "error": "server busy, please try again.  maximum pending requests exceeded"
            }
            assert r.headers["retry-after"] == "1"
            with pytest.raises(ollama.ResponseError) as e:
                await ollama.AsyncClient(host=noeos.url).generate(model=MODEL, prompt="x")
            assert e.value.status_code == 503
            # The OpenAI routes share the same admission control.
            chat = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
            r = await c.post("/v1/chat/completions", json=chat)
            assert r.status_code == 503
            assert r.json()["error"]["type"] == "api_error"
    assert await wait_until(lambda: _idle(noeos), within=2.0)
    metrics = (await httpx.AsyncClient(base_url=noeos.url).get("/metrics")).text
    rejected = 'pasture_admission_rejections_total{model="tiny:latest",reason="queue_full"} 3.0'
    assert rejected in metrics
    assert 'status="499"' in metrics  # the aborted requests


async def test_metrics_after_traffic(server: Served) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(
            "/api/generate",
            json={"model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 3}},
        )
        assert r.status_code == 200
        await c.post("/api/generate", json={"model": "nope", "prompt": "x"})
        await c.get("/healthz")
        await c.get("/readyz")
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    ep = 'endpoint="/api/generate"'
    model = 'model="tiny:latest"'
    for series in (
        f'pasture_requests_total{{{ep},{model},status="200"}}',
        f'pasture_requests_total{{{ep},{model},status="404"}}',
        f"pasture_request_duration_seconds_bucket{{{ep},",
        f"pasture_time_to_first_token_seconds_bucket{{{ep},",
        f"pasture_inter_token_latency_seconds_bucket{{{ep},",
        f"pasture_prompt_tokens_total{{{ep},{model}}}",
        f"pasture_output_tokens_total{{{ep},{model}}}",
        f"pasture_requests_running{{{model}}} 0.0",
        f"pasture_requests_waiting{{{model}}} 0.0",
        f"pasture_ready{{{model}}} 1.0",
        "vllm:num_requests_running",
        "vllm:kv_cache_usage_perc",
    ):
        assert series in text, series
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert f'endpoint="{probe}"' not in text


async def test_health_and_draining(server: Served) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 200
        server.runtime.draining = True
        try:
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["status"] == "draining"
            r = await c.post("/api/generate", json={"model": MODEL, "prompt": "x"})
            assert r.status_code == 503
            assert "shutting down" in r.json()["error"]
            assert (await c.get("/healthz")).status_code == 200
        finally:
            server.runtime.draining = False
        assert (await c.get("/readyz")).status_code == 200


async def test_openapi_describes_ollama_bodies(server: Served) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        spec = (await c.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for path, name in (
        ("/api/generate", "GenerateRequest"),
        ("/api/chat", "ChatRequest"),
        ("/api/show", "ShowRequest"),
        ("/api/pull", "PullRequest"),
    ):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"] == f"#/components/schemas/{name}"
        assert name in schemas
    assert {"model", "prompt", "options", "context", "keep_alive"} <= set(
        schemas["GenerateRequest"]["properties"]
    )


async def test_api_keys(tiny_model_dir: Path, engine: Engine, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# comment\nsecret-one\n")
    cfg = tiny_config(tiny_model_dir, api_keys_file=str(keys))
    async with serve(cfg, engine) as s, httpx.AsyncClient(base_url=s.url) as c:
        r = await c.get("/api/tags")
        assert r.status_code == 401
        assert "error" in r.json()
        r = await c.get("/api/tags", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await c.post("/v1/chat/completions", json={})
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "authentication_error"
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 200
        assert (await c.get("/metrics")).status_code == 200
        good = ollama.AsyncClient(host=s.url, headers={"Authorization": "Bearer secret-one"})
        assert (await good.list()).models[0].model == "tiny:latest"
        with pytest.raises(ollama.ResponseError) as e:
            await ollama.AsyncClient(host=s.url).list()
        assert e.value.status_code == 401
        # Rotation without restart: the file is re-read when it changes.
        keys.write_text("secret-two-rotated\n")
        r = await c.get("/api/tags", headers={"Authorization": "Bearer secret-one"})
        assert r.status_code == 401
        r = await c.get("/api/tags", headers={"Authorization": "Bearer secret-two-rotated"})
        assert r.status_code == 200

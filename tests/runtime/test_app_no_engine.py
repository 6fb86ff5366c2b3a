"""HTTP behaviour that needs no engine (the app before its engine is ready):
probes, version, Ollama-shaped errors. Served in-process via ASGI."""

from __future__ import annotations

from pathlib import Path

import httpx

from pasture_runtime import OLLAMA_COMPAT_VERSION
from pasture_runtime.app import create_app
from tests.runtime.harness import tiny_config


def client(tmp_path: Path) -> httpx.AsyncClient:
    app = create_app(tiny_config(tmp_path))  # lifespan not run: no engine
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_root_version_and_probes_while_loading(tmp_path: Path) -> None:
    async with client(tmp_path) as c:
        r = await c.get("/")
        assert (r.status_code, r.text) == (200, "Ollama is running")
        assert r.headers["content-type"].startswith("text/plain")
        assert (await c.head("/")).status_code == 200
        r = await c.get("/api/version")
        assert r.json()["version"] == OLLAMA_COMPAT_VERSION
        assert r.headers["x-pasture-version"]
        assert (await c.head("/api/version")).status_code == 200
        assert (await c.get("/healthz")).status_code == 200
        r = await c.get("/readyz")
        assert (r.status_code, r.json()) == (503, {"status": "loading"})
        assert (await c.get("/api/tags")).json() == {"models": []}
        assert (await c.get("/api/ps")).json() == {"models": []}
        r = await c.get("/api/version", headers={"X-Request-Id": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123"


async def test_errors_before_the_engine_is_ready(tmp_path: Path) -> None:
    async with client(tmp_path) as c:
        r = await c.post("/api/generate", json={"model": "nope", "prompt": "x"})
        assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
        r = await c.post("/api/generate", json={"model": "tiny", "prompt": "x"})
        assert r.status_code == 503
        assert "loading" in r.json()["error"]
        r = await c.post("/api/generate", json={"model": "tiny"})
        assert r.json()["done_reason"] == "load"
        r = await c.post("/api/generate", content=b"")
        assert (r.status_code, r.json()) == (400, {"error": "missing request body"})
        r = await c.head("/api/blobs/sha256:" + "0" * 64)
        assert r.status_code == 404
        r = await c.post("/api/blobs/sha256:" + "0" * 64, content=b"x")
        assert r.status_code == 403
        r = await c.request("DELETE", "/api/delete", content=b'{"model":"nope"}')
        assert r.status_code == 404


async def test_rare_event_counters_start_at_zero(tmp_path: Path) -> None:
    """Rejection and abort series exist at 0 from startup, so Prometheus'
    rate() sees the first burst (a series born at 1 has no earlier sample)."""
    async with client(tmp_path) as c:
        text = (await c.get("/metrics")).text
    model = 'model="tiny:latest"'
    for reason in ("queue_full", "draining"):
        assert f'pasture_admission_rejections_total{{{model},reason="{reason}"}} 0.0' in text
    for endpoint in ("/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions"):
        series = f'endpoint="{endpoint}",{model},reason="client_disconnect"'
        assert f"pasture_requests_aborted_total{{{series}}} 0.0" in text
    series = f'endpoint="any",{model},reason="drain_timeout"'
    assert f"pasture_requests_aborted_total{{{series}}} 0.0" in text


def test_embedding_runtime_has_no_generation_abort_series(tmp_path: Path) -> None:
    config = tiny_config(tmp_path)
    config.engine.runner = "pooling"
    text = create_app(config).state.runtime.metrics.render().decode()
    assert 'pasture_admission_rejections_total{model="tiny:latest",reason="queue_full"} 0.0' in text
    assert "client_disconnect" not in text
    assert 'reason="drain_timeout"} 0.0' in text

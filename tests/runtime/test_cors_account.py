"""CORS with Ollama's OLLAMA_ORIGINS semantics, and the account / status
endpoints, over real HTTP (uvicorn on a port; no engine needed: the app
answers these while its model loads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from pasture_runtime import OLLAMA_COMPAT_VERSION, __version__
from pasture_runtime.app import create_app
from pasture_runtime.config import load_config
from pasture_runtime.cors import allowed_origins, origin_allowed
from tests.fixtures.net import free_port
from tests.runtime.harness import _QuietServer, tiny_config, wait_until


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    config = tiny_config(tmp_path)
    config.server.origins = ["https://chat.example.com", "http://*.corp.example"]
    (tmp_path / "keys").write_text("sesame\n")
    config.server.api_keys_file = str(tmp_path / "keys")  # preflights must not need a key
    port = free_port()
    server = _QuietServer(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                       lifespan="off")
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    assert await wait_until(lambda: server.started, within=30)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 30)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost", True), ("http://localhost:3000", True),
        ("https://127.0.0.1:8443", True), ("http://0.0.0.0:8080", True),
        ("app://obsidian.md", True), ("file://", True), ("tauri://localhost", True),
        ("vscode-webview://abc", True), ("vscode-file://vscode-app", True),
        ("https://chat.example.com", True), ("http://a.corp.example", True),
        ("https://evil.example", False), ("http://localhost.evil.example", False),
        ("chrome-extension://abc", False), ("https://chat.example.com.evil", False),
    ],
)  # fmt: skip
def test_origins_as_ollama_allows_them(origin: str, allowed: bool) -> None:
    patterns = allowed_origins(["https://chat.example.com", "http://*.corp.example"])
    assert origin_allowed(origin, patterns) is allowed


def test_origins_come_from_config_and_env(tmp_path: Path) -> None:
    env = {"PASTURE_MODEL": str(tmp_path), "PASTURE_ORIGINS": "https://a.example,app://x"}
    assert load_config(env=env).server.origins == ["https://a.example", "app://x"]
    assert load_config(env={"PASTURE_MODEL": str(tmp_path)}).server.origins == []


async def test_preflight_is_answered_before_auth(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        refused = await c.post("/api/chat", headers={"Origin": "http://localhost:5173"})
        assert refused.status_code == 401  # the key is still needed for the request itself
        assert refused.headers["access-control-allow-origin"] == "http://localhost:5173"
        r = await c.options(
            "/api/chat",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,authorization"},
        )  # fmt: skip
        assert r.status_code == 204
        assert r.content == b""
        assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert r.headers["access-control-allow-methods"] == "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
        allowed = r.headers["access-control-allow-headers"].split(",")
        assert {"Authorization", "Content-Type", "X-Stainless-Os"} <= set(allowed)
        assert r.headers["access-control-max-age"] == "43200"
        assert r.headers.get_list("vary") == [
            "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"
        ]  # fmt: skip


KEY = {"Authorization": "Bearer sesame"}


async def test_allowed_origins_get_the_header_others_a_403(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=KEY) as c:
        ok = await c.get("/api/version", headers={"Origin": "https://chat.example.com"})
        assert ok.status_code == 200
        assert ok.json()["version"] == OLLAMA_COMPAT_VERSION
        assert ok.headers["access-control-allow-origin"] == "https://chat.example.com"
        assert ok.headers["vary"] == "Origin"
        bad = await c.get("/api/version", headers={"Origin": "https://evil.example"})
        assert (bad.status_code, bad.content) == (403, b"")
        bad_preflight = await c.options("/api/chat", headers={"Origin": "https://evil.example"})
        assert bad_preflight.status_code == 403
        # No Origin, or the server's own: not CORS, no headers.
        plain = await c.get("/api/version")
        assert plain.status_code == 200
        assert "access-control-allow-origin" not in plain.headers
        own = await c.get("/api/version", headers={"Origin": url})
        assert own.status_code == 200
        assert "access-control-allow-origin" not in own.headers


async def test_account_and_status_as_an_ollama_nobody_signed_in_to(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=KEY) as c:
        me = await c.post("/api/me")
        assert (me.status_code, me.content) == (200, b"null")
        out = await c.post("/api/signout")
        assert (out.status_code, out.json()) == (401, {"error": "you are not currently signed in"})
        key = await c.delete("/api/user/keys/abc")
        assert key.status_code == 401
        status = await c.get("/api/status")
        assert status.json() == {"cloud": {"disabled": True, "source": "config"}}
        version = await c.get("/api/version")
        assert version.json()["version"] == OLLAMA_COMPAT_VERSION
        assert version.headers["x-pasture-version"] == __version__

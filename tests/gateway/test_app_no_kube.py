"""The gateway app in-process with an empty routing table (no control plane):
its own answers, auth, and the errors it gives before any routing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pasture_gateway.app import build, create_app
from pasture_gateway.settings import Settings


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(build(Settings(max_body_bytes=1000), None))) as c:
        yield c


def test_root_and_version(client: TestClient) -> None:
    assert client.get("/").text == "Ollama is running"
    assert client.head("/").status_code == 200
    assert client.get("/api/version").json()["version"].count(".") == 2
    assert client.get("/api/tags").json() == {"models": []}
    assert client.get("/api/ps").json() == {"models": []}
    assert client.get("/v1/models").json() == {"object": "list", "data": []}


def test_go_style_404_and_405(client: TestClient) -> None:
    r = client.get("/nope")
    assert (r.status_code, r.text) == (404, "404 page not found")
    r = client.get("/api/chat")
    assert (r.status_code, r.text) == (405, "405 method not allowed")


def test_request_errors_in_each_protocols_shape(client: TestClient) -> None:
    assert client.post("/api/chat", content=b"").json() == {"error": "missing request body"}
    assert client.post("/api/chat", json={"messages": []}).json() == {"error": "model is required"}
    r = client.post("/api/generate", json={"model": "x", "prompt": "p"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'x' not found"})
    r = client.post("/v1/chat/completions", json={"model": "x", "messages": []})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    r = client.post("/api/show", json={"model": "x"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'x:latest' not found"})
    r = client.post("/api/embed", content=b"{" + b" " * 2000 + b"}")
    assert r.status_code == 413


def test_request_ids_are_echoed(client: TestClient) -> None:
    assert client.get("/", headers={"X-Request-Id": "abc"}).headers["x-request-id"] == "abc"
    assert len(client.get("/").headers["x-request-id"]) == 32


def test_api_keys_as_the_runtime_takes_them(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# rotated by a Secret\nk1\n")
    app = create_app(build(Settings(api_keys_file=str(keys)), None))
    with TestClient(app) as c:
        r = c.get("/api/tags")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "unauthorized" in r.json()["error"]
        r = c.post("/v1/chat/completions", json={})
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "authentication_error"
        assert c.get("/api/tags", headers={"Authorization": "Bearer k1"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # probes need no key
        keys.write_text("k2\n")  # a new key is taken without a restart
        assert c.get("/api/tags", headers={"Authorization": "Bearer k1"}).status_code == 401
        assert c.get("/api/tags", headers={"Authorization": "Bearer k2"}).status_code == 200


def test_readyz_waits_for_the_watches(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    assert "pasture_gateway_requests_total" in client.get("/metrics").text


def test_gateway_and_runtime_report_the_same_ollama_version() -> None:
    """Clients gate features on /api/version: the gateway must not promise
    more (or less) than the runtimes behind it (docs/compatibility.md)."""
    import pasture_gateway
    import pasture_runtime

    assert pasture_gateway.OLLAMA_COMPAT_VERSION == pasture_runtime.OLLAMA_COMPAT_VERSION

"""The management routes in-process without a cluster: who may, local files
refused, and `ollama stop` answered without waking a model at zero."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import yaml
from starlette.testclient import TestClient

from pasture_gateway.app import build, create_app
from pasture_gateway.settings import Settings
from tests.gateway.objects import md, model


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    objects = tmp_path / "objects.yaml"
    docs = [
        {"kind": "Model", **model("tiny")},
        {"kind": "ModelDeployment", **md("tiny", replicas=0)},
    ]
    objects.write_text(yaml.safe_dump_all(docs))
    settings = Settings(objects_file=str(objects), hold_timeout=30)
    with TestClient(create_app(build(settings, None))) as c:
        yield c


def test_management_is_off_without_keys_unless_allowed(client: TestClient) -> None:
    for method, path, body in [
        ("POST", "/api/pull", {"model": "tiny"}),
        ("POST", "/api/create", {"model": "x", "from": "tiny"}),
        ("POST", "/api/copy", {"source": "tiny", "destination": "x"}),
        ("DELETE", "/api/delete", {"model": "tiny"}),
    ]:
        r = client.request(method, path, json=body)
        assert r.status_code == 403
        assert "manage" in r.json()["error"]


def test_a_key_without_the_manage_scope_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("k1\n")
    app = create_app(build(Settings(api_keys_file=str(keys), manage_anonymous=True), None))
    with TestClient(app) as c:
        assert c.post("/api/pull", json={"model": "tiny"}).status_code == 401
        r = c.post("/api/pull", json={"model": "tiny"}, headers={"Authorization": "Bearer k1"})
        # A plain key has every scope; without a cluster there is nothing to manage.
        assert r.status_code == 403
        assert "disabled" in r.json()["error"]


def test_uploading_blobs_is_refused_saying_how_to_serve_weights(client: TestClient) -> None:
    assert client.head("/api/blobs/sha256:ab").status_code == 404
    r = client.post("/api/blobs/sha256:ab", content=b"GGUF")
    assert r.status_code == 400
    assert "PersistentVolumeClaim" in r.json()["error"]


def test_stop_answers_unload_without_waking_a_model_at_zero(client: TestClient) -> None:
    r = client.post("/api/generate", json={"model": "tiny", "keep_alive": 0})
    assert r.status_code == 200
    body = r.json()
    assert (body["model"], body["done"], body["done_reason"]) == ("tiny:latest", True, "unload")
    r = client.post("/api/chat", json={"model": "tiny", "keep_alive": "0s"})
    assert r.json()["message"] == {"role": "assistant", "content": ""}
    r = client.post("/api/generate", json={"model": "nope", "keep_alive": 0})
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope:latest' not found"})


def test_other_requests_still_reach_the_proxy(client: TestClient) -> None:
    r = client.post("/api/generate", json={"model": "nope", "prompt": "hi", "keep_alive": 0})
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
    assert client.post("/api/generate", content=b"").json() == {"error": "missing request body"}


def test_only_keys_with_the_manage_scope_may_manage() -> None:
    from pasture_gateway.identity import ANONYMOUS, INFER, MANAGE, Identity
    from pasture_gateway.routers.manage import ManageRoutes
    from pasture_gateway.usecases.manage_pull import Manage

    routes = ManageRoutes(cast(Manage, object()), allow_anonymous=False)
    reader = Identity(key_id="k1", tenant="t", scopes=frozenset({INFER}))
    admin = Identity(key_id="k2", tenant="t", scopes=frozenset({INFER, MANAGE}))
    refused = routes._may(reader)
    assert refused is not None
    assert (refused.status, "`manage` scope" in refused.message) == (403, True)
    assert routes._may(admin) is None
    assert routes._may(ANONYMOUS) is not None
    assert ManageRoutes(cast(Manage, object()), allow_anonymous=True)._may(ANONYMOUS) is None

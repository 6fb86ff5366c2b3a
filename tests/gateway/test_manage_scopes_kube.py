"""Who may manage models (issue 14): the REAL gateway on the local control plane
with a REAL key file in the YAML format (access/pasture_access/keyfile.py). A key
without the `manage` scope gets 403 in Ollama's shape on pull, create, copy and
delete, and nothing changes; a key with it succeeds, and each change is an Event
on the object naming the caller's key id (what `kubectl get events` shows).
With no keys configured, management answers 403 saying how to turn it on.

No operator and no engine: the test writes the ModelDeployment status the
operator would write (tests/gateway/harness.py), as the other gateway tests do."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pasture_access.keyfile import hash_key
from tests.gateway.harness import GATEWAY, Cluster, Process, wait_until

pytestmark = pytest.mark.kube

KEYS = {"reader": "reader-key-1", "ops": "ops-key-1", "team-ops": "team-ops-key-1"}
# Every management call, against a person's model `alpha`.
CALLS = [
    ("POST", "/api/pull", {"model": "alpha", "stream": False}),
    ("POST", "/api/create", {"model": "alpha-v", "from": "alpha", "stream": False}),
    ("POST", "/api/copy", {"source": "alpha", "destination": "alpha-copy"}),
    ("DELETE", "/api/delete", {"model": "alpha"}),
]


def key_file(path: Path) -> Path:
    entries = [
        {"id": "reader", "sha256": hash_key(KEYS["reader"]), "scopes": ["infer"]},
        {"id": "ops", "sha256": hash_key(KEYS["ops"]), "scopes": ["infer", "manage"]},
        {"id": "team-ops", "sha256": hash_key(KEYS["team-ops"]), "scopes": ["infer", "manage"],
         "models": ["team/*"]},
    ]  # fmt: skip
    path.write_text(yaml.safe_dump({"keys": entries}))
    return path


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[who]}"}


def events(cluster: Cluster) -> list[str]:
    out = cluster.kube.kubectl("get", "events", "-n", cluster.ns, "-o", "json").stdout
    return [str(e.get("message")) for e in json.loads(out)["items"]]


def event_seen(cluster: Cluster, message: str) -> None:
    wait_until(lambda: message in events(cluster), 30, f"an Event {message!r}")


def models(cluster: Cluster) -> list[dict[str, Any]]:
    out = cluster.kube.kubectl("get", "models", "-n", cluster.ns, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def served_alpha(cluster: Cluster, gateway: Callable[..., Process], *extra: str) -> Process:
    cluster.model("alpha")
    cluster.deployment("alpha", ["alpha:latest"])
    gw = gateway(*extra)
    wait_until(
        lambda: "alpha" in httpx.get(gw.url + "/api/tags", headers=auth("ops")).text,
        30, "the gateway lists alpha",
    )  # fmt: skip
    return gw


async def test_without_the_manage_scope_every_change_is_refused(
    cluster: Cluster, gateway: Callable[..., Process], tmp_path: Path
) -> None:
    gw = served_alpha(cluster, gateway, "--api-keys-file", str(key_file(tmp_path / "keys")))
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
        for method, path, body in CALLS:
            r = await client.request(method, path, json=body, headers=auth("reader"))
            assert r.status_code == 403, (path, r.text)
            assert r.json() == {
                "error": "this API key may not manage models: it needs the `manage` scope"
            }, path
    assert [m["metadata"]["name"] for m in models(cluster)] == ["alpha"]
    assert not cluster.get("model", "alpha")["spec"].get("aliases")
    assert not [m for m in events(cluster) if "reader" in m]


async def test_with_the_manage_scope_changes_are_events_naming_the_key(
    cluster: Cluster, gateway: Callable[..., Process], tmp_path: Path
) -> None:
    gw = served_alpha(cluster, gateway, "--api-keys-file", str(key_file(tmp_path / "keys")))
    async with httpx.AsyncClient(base_url=gw.url, timeout=60, headers=auth("ops")) as client:
        r = await client.post("/api/pull", json={"model": "alpha", "stream": False})
        assert (r.status_code, r.json()) == (200, {"status": "success"})  # served: at once

        r = await client.post("/api/copy", json={"source": "alpha", "destination": "alpha-copy"})
        assert r.status_code == 200, r.text
        assert cluster.get("model", "alpha")["spec"]["aliases"] == ["alpha-copy:latest"]
        event_seen(cluster, "alias alpha-copy added by ops (ollama cp)")

        create = asyncio.create_task(
            client.post("/api/create", json={"model": "alpha-v", "from": "alpha",
                                             "system": "be brief", "stream": False})
        )  # fmt: skip
        # The operator's part: the variant's name joins the ModelDeployment's served names.
        await asyncio.to_thread(
            wait_until, lambda: "alpha-v" in [m["metadata"]["name"] for m in models(cluster)],
            30, "the variant Model",
        )  # fmt: skip
        cluster.status("alpha", {"servedNames": ["alpha:latest", "alpha-v:latest"]})
        r = await create
        assert (r.status_code, r.json()) == (200, {"status": "success"})
        event_seen(cluster, "created by ops from alpha")
        event_seen(cluster, "alpha-v added by ops")

        for name, message in [("alpha-v", "deleted by ops (ollama rm)"),
                              ("alpha-copy", "alias alpha-copy removed by ops")]:  # fmt: skip
            r = await client.request("DELETE", "/api/delete", json={"model": name})
            assert r.status_code == 200, (name, r.text)
            event_seen(cluster, message)
        # A person's model stays; the refusal names what serves it.
        r = await client.request("DELETE", "/api/delete", json={"model": "alpha"})
        assert r.status_code == 403
        assert "ModelDeployment" in r.json()["error"]
    assert [m["metadata"]["name"] for m in models(cluster)] == ["alpha"]


async def test_a_pull_never_served_and_removed_is_recorded(
    cluster: Cluster, gateway: Callable[..., Process], tmp_path: Path
) -> None:
    """`ollama rm` of a pulled name still downloading deletes what the pull made:
    that change too is an Event naming the caller."""
    gw = gateway("--api-keys-file", str(key_file(tmp_path / "keys")))
    name = "hf.co/org/proof"
    async with httpx.AsyncClient(base_url=gw.url, timeout=60, headers=auth("ops")) as client:
        async with client.stream("POST", "/api/pull", json={"model": name}) as r:
            assert r.status_code == 200
            lines = r.aiter_lines()
            assert json.loads(await anext(lines)) == {"status": "pulling manifest"}
            await asyncio.to_thread(wait_until, lambda: models(cluster), 30, "the pulled Model")
        event_seen(cluster, f"created by ops (ollama pull {name})")
        r = await client.request("DELETE", "/api/delete", json={"model": name})
        assert r.status_code == 200, r.text
    wait_until(lambda: not models(cluster), 30, "the pulled Model deleted")
    event_seen(cluster, f"deleted by ops (ollama rm {name})")


async def test_without_keys_management_is_off_and_says_how_to_turn_it_on(
    cluster: Cluster, gateway: Callable[..., Process]
) -> None:
    gw = served_alpha(cluster, gateway)  # no keys, no --manage-anonymous
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
        for method, path, body in CALLS:
            r = await client.request(method, path, json=body)
            assert r.status_code == 403, (path, r.text)
            message = r.json()["error"]
            assert "API keys with the `manage` scope" in message, message
            assert "gateway.management.allowAnonymous" in message, message
    assert [m["metadata"]["name"] for m in models(cluster)] == ["alpha"]


async def test_a_manage_key_changes_only_the_models_it_may_use(
    cluster: Cluster, gateway: Callable[..., Process], tmp_path: Path
) -> None:
    """Model globs hold for management and `ollama stop` too (docs/tenancy.md): a
    name outside them gets the same 403 whether or not it exists, before any lookup."""
    gw = served_alpha(cluster, gateway, "--api-keys-file", str(key_file(tmp_path / "keys")))
    nowhere = [
        ("POST", "/api/pull", {"model": "nowhere", "stream": False}),
        ("POST", "/api/copy", {"source": "team/x", "destination": "nowhere"}),
        ("DELETE", "/api/delete", {"model": "nowhere"}),
    ]
    stop = [("POST", p, {"model": m, "keep_alive": 0})
            for p in ("/api/generate", "/api/chat") for m in ("alpha", "nowhere")]  # fmt: skip
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
        for method, path, body in [*CALLS, *nowhere, *stop]:
            r = await client.request(method, path, json=body, headers=auth("team-ops"))
            assert r.status_code == 403, (path, body, r.text)
            assert r.json()["error"].startswith("forbidden: this API key may not use model"), r.text
    annotations = cluster.get("modeldeployment", "alpha")["metadata"].get("annotations") or {}
    assert "pasture.dev/keep-alive" not in annotations
    assert [m["metadata"]["name"] for m in models(cluster)] == ["alpha"]
    assert not [m for m in events(cluster) if "team-ops" in m]


def test_a_management_namespace_it_does_not_serve_stops_the_gateway(cluster: Cluster) -> None:
    """Pulled models go to --manage-namespace: outside --namespaces the gateway
    would neither watch them nor (with the chart's Roles) be let create them."""
    args = ["--namespaces", cluster.ns, "--manage-namespace", "elsewhere", "--port", "0",
            "--kubeconfig", str(cluster.kube.kubeconfig)]  # fmt: skip
    out = subprocess.run(
        [str(GATEWAY), *args], capture_output=True, text=True, timeout=60, env=cluster.kube.env
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "--manage-namespace elsewhere is not one of the served namespaces" in out.stderr

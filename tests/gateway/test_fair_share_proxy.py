"""The slot share through the real gateway app (in-process, the real aiohttp
upstream client, keys from a real key file) in front of a stub runtime on a
loopback "pod" address that holds every answer until told (no engine needed:
what is tested is which requests the gateway lets through). A flood from
tenant A on a model of 4 slots leaves one for tenant B, seen a moment ago,
whose request then reaches the runtime at once; once released, everything
completes."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from pasture_gateway.app import Gateway, build, create_app
from pasture_gateway.settings import Settings
from tests.gateway.objects import md, pod

STUB_IP = "127.0.0.74"
HEAD = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
FINAL = {"done": True, "prompt_eval_count": 12, "eval_count": 34}


class HeldStub:
    """A runtime that answers each request only once `release` is set;
    records the tenant of every request that reached it."""

    def __init__(self) -> None:
        self.tenants: list[str] = []  # header values: lowercased, as read
        self.release = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                fields = dict(h.lower().split(": ", 1) for h in head[1:] if ": " in h)
                await reader.readexactly(int(fields.get("content-length", "0")))
                self.tenants.append(fields.get("x-pasture-tenant", ""))
                await self.release.wait()
                line = json.dumps(FINAL).encode() + b"\n"
                writer.write(f"{HEAD}content-length: {len(line)}\r\n\r\n".encode() + line)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class Rig:
    def __init__(self, client: httpx.AsyncClient, stub: HeldStub, gateway: Gateway) -> None:
        self.client, self.stub, self.gateway = client, stub, gateway

    async def chat(self, tenant: str) -> httpx.Response:
        body = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {tenant}-key"}
        return await self.client.post("/api/chat", json=body, headers=headers, timeout=60)


def _key_file(folder: Path) -> Path:
    keys = [{"id": f"key-{t}", "sha256": hashlib.sha256(f"{t}-key".encode()).hexdigest(),
             "tenant": t.lower()} for t in "AB"]  # fmt: skip
    path = folder / "keys.yaml"
    path.write_text(yaml.safe_dump({"keys": keys}))
    return path


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stub = HeldStub()
    server = await asyncio.start_server(stub.serve, STUB_IP, 11434)
    gateway = build(Settings(api_keys_file=str(_key_file(tmp_path)), audit=False), None)
    deployment = md(served=("tiny:latest", "tiny"), server={"maxRunning": 4})
    gateway.store.replace("ModelDeployment", "", [deployment])
    gateway.store.replace("Pod", "", [pod("tiny-0", ip=STUB_IP)])
    transport = httpx.ASGITransport(app=create_app(gateway))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield Rig(client, stub, gateway)
    finally:
        stub.release.set()
        await gateway.stop()
        server.close()


async def _until(cond: object, what: str) -> None:
    for _ in range(500):
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_a_flood_leaves_a_slot_for_a_quiet_tenant(rig: Rig) -> None:
    adm, key = rig.gateway.forwarder.admission, "ns/tiny"
    rig.stub.release.set()
    assert (await rig.chat("B")).status_code == 200  # B was here a moment ago
    rig.stub.release.clear()
    flood = [asyncio.create_task(rig.chat("A")) for _ in range(6)]
    await _until(lambda: adm.waiting(key) == 3, "3 of A's waiting")
    await _until(lambda: rig.stub.tenants.count("a") == 3, "3 of A's at the runtime")
    quiet = asyncio.create_task(rig.chat("B"))
    await _until(lambda: rig.stub.tenants.count("b") == 2, "B at the runtime, A's still held")
    assert rig.stub.tenants.count("a") == 3
    rig.stub.release.set()
    assert [r.status_code for r in await asyncio.gather(quiet, *flood)] == [200] * 7
    assert (adm.running(key), adm.waiting(key)) == (0, 0)

"""Template bombs against the real app and engine: a request's Jinja template
that loops or allocates without bound gets a clear 400, and the server stays
responsive meanwhile (it is rendered in the sandbox process, off the loop)."""

from __future__ import annotations

import asyncio
import resource
import time

import httpx
import pytest

from tests.runtime.harness import MODEL, Served

pytestmark = pytest.mark.engine

BOMBS = [
    "{% set x = 'a' * 10**10 %}{{ x }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
]


async def test_template_bombs_get_400_and_the_server_stays_responsive(server: Served) -> None:
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
        bombs = [
            asyncio.create_task(
                c.post("/api/generate", json={"model": MODEL, "prompt": "hi", "template": bomb})
            )
            for bomb in BOMBS
        ]
        worst = 0.0
        while not all(b.done() for b in bombs):
            started = time.monotonic()
            r = await c.get("/api/version")
            worst = max(worst, time.monotonic() - started)
            assert r.status_code == 200
            await asyncio.sleep(0.05)
        # A liveness bound, not a benchmark: the loop was never held.
        assert worst < 0.5, worst
        for bomb in bombs:
            r = bomb.result()
            assert r.status_code == 400, r.text[:300]
            assert r.json()["error"].startswith("template: ")
        after_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert after_mb - before_mb < 500
        # A request template that is fine still renders, and nothing leaked.
        ok = await c.post(
            "/api/generate",
            json={
                "model": MODEL,
                "prompt": "hi",
                "stream": False,
                "template": "{% for m in messages %}{{ m.content }}{% endfor %}",
                "options": {"num_predict": 2},
            },
        )
        assert ok.status_code == 200
        assert ok.json()["done"] is True
    adm = server.runtime.admission
    assert adm is not None
    assert adm.in_flight == 0

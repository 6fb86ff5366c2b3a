"""Adversarial input against the real engine (issue 11, items 1-4 and 6):
lists of prompts longer than the free admission slots, a prompt of a list
that fails while its siblings run, junk paths that would each become a
metrics series, chunked bodies far over the size limit, NaN / Infinity /
huge numbers in options, and prompts big enough that tokenizing them on the
event loop would stall the server.

After each storm the admission gauges read 0 and a normal request succeeds:
nothing leaked."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pasture_runtime.drain import drain
from pasture_runtime.engine import Engine
from pasture_runtime.engine_types import EngineBadRequest
from tests.runtime.harness import MODEL, NoEosEngine, Served, serve, tiny_config, wait_until

pytestmark = pytest.mark.engine

POISON = "POISON"


class PoisonEngine(NoEosEngine):
    """The shared engine (requests never stop at EOS), except that a prompt
    holding POISON fails in the engine after its first token, as a request
    the engine refuses mid-way would: its siblings are still running then."""

    async def generate(self, prompt_ids: list[int], params: Any, request_id: str, *a: Any) -> Any:
        poisoned = POISON in self.decode(prompt_ids)
        async for delta in super().generate(prompt_ids, params, request_id, *a):
            yield delta
            if poisoned:
                raise EngineBadRequest("poisoned prompt")


@pytest.fixture(scope="module")
async def tight(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    """One running slot, one waiting slot: the issue's reproduction."""
    async with serve(tiny_config(tiny_model_dir, max_running=1, max_waiting=1), engine) as s:
        yield s


@pytest.fixture(scope="module")
async def poison(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    cfg = tiny_config(tiny_model_dir, max_running=4, max_waiting=4)
    async with serve(cfg, PoisonEngine(engine.llm)) as s:
        yield s


@pytest.fixture(scope="module")
async def small_body(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    async with serve(tiny_config(tiny_model_dir, max_body_bytes=100_000), engine) as s:
        yield s


async def _gauges(c: httpx.AsyncClient) -> tuple[float, float]:
    text = (await c.get("/metrics")).text
    running = re.search(r'^pasture_requests_running\{model="tiny:latest"\} (\S+)$', text, re.M)
    waiting = re.search(r'^pasture_requests_waiting\{model="tiny:latest"\} (\S+)$', text, re.M)
    assert running, text[-2000:]
    assert waiting, text[-2000:]
    return float(running.group(1)), float(waiting.group(1))


async def _settled(s: Served) -> None:
    """Nothing left admitted or running, and the server still serves."""
    adm = s.runtime.admission
    assert adm is not None
    idle = await wait_until(
        lambda: adm.in_flight == 0 and s.engine.num_unfinished() == 0 and not s.engine.active,
        within=10,
    )
    assert idle, (adm.running, adm.waiting, s.engine.num_unfinished(), s.engine.active)
    async with httpx.AsyncClient(base_url=s.url, timeout=60) as c:
        assert await _gauges(c) == (0.0, 0.0)
        body = {
            "model": MODEL,
            "prompt": "hello there",
            "stream": False,
            "options": {"num_predict": 2},
        }
        r = await c.post("/api/generate", json=body)
        assert r.status_code == 200, r.text
        assert await _gauges(c) == (0.0, 0.0)


# ---- item 1: one engine request <=> one ticket


async def test_list_prompt_longer_than_free_slots_leaks_no_ticket(tight: Served) -> None:
    """Four prompts against one running and one waiting slot: the prompts run
    under the tickets the request could take, and every ticket comes back."""
    body = {
        "model": MODEL,
        "prompt": ["the cow", "the sheep", "a goat", "a horse"],
        "max_tokens": 3,
        "temperature": 0,
    }
    async with httpx.AsyncClient(base_url=tight.url, timeout=120) as c:
        r = await c.post("/v1/completions", json=body)
        assert r.status_code == 200, r.text
        assert [ch["index"] for ch in r.json()["choices"]] == [0, 1, 2, 3]
    await _settled(tight)


async def test_list_prompt_refused_when_busy_leaks_no_ticket(tight: Served) -> None:
    """While both slots are taken a list request is refused whole with the
    busy 503, holding nothing afterwards; streamed lists too."""
    long = {
        "model": MODEL,
        "prompt": "hello there",
        "options": {"num_predict": 400, "temperature": 0},
    }
    async with (
        httpx.AsyncClient(base_url=tight.url, timeout=120) as c,
        c.stream("POST", "/api/generate", json=long) as running,
    ):
        lines = running.aiter_lines()
        await lines.__anext__()
        async with c.stream("POST", "/api/generate", json=long) as queued:
            assert queued.status_code == 200
            for stream in (False, True):
                body = {
                    "model": MODEL,
                    "prompt": ["the cow", "the sheep", "a goat"],
                    "max_tokens": 3,
                }
                r = await c.post("/v1/completions", json={**body, "stream": stream})
                assert r.status_code == 503, r.text
            adm = tight.runtime.admission
            assert adm is not None
            assert (adm.running, adm.waiting) == (1, 1)
    await _settled(tight)


async def test_list_prompt_streams_every_prompt_under_one_slot(tight: Served) -> None:
    body = {
        "model": MODEL,
        "prompt": ["the cow", "the sheep", "a goat"],
        "max_tokens": 3,
        "stream": True,
    }
    async with httpx.AsyncClient(base_url=tight.url, timeout=120) as c:
        r = await c.post("/v1/completions", json=body)
        assert r.status_code == 200
        indexes = {int(i) for i in re.findall(r'"index": ?(\d+)', r.text)}
        assert indexes == {0, 1, 2}, r.text[-500:]
        assert "error" not in r.text, r.text[-500:]
    await _settled(tight)


@pytest.mark.parametrize("stream", [False, True])
async def test_failing_prompt_of_a_list_aborts_its_siblings(poison: Served, stream: bool) -> None:
    """One prompt fails mid-way: the request errors, and the prompts still
    generating (1,500 tokens each) are aborted in the engine at once, not
    left running with their tickets released."""
    prompts = ["the first one", f"the second {POISON}", "the third one"]
    if stream:  # streamed prompts run one after another: the poisoned one first
        prompts = prompts[1:2] + prompts[:1] + prompts[2:]
    body = {"model": MODEL, "prompt": prompts, "max_tokens": 1500, "stream": stream}
    async with httpx.AsyncClient(base_url=poison.url, timeout=120) as c:
        r = await c.post("/v1/completions", json=body)
        if stream:
            assert "poisoned prompt" in r.text
        else:
            assert r.status_code == 400, r.text
            assert "poisoned prompt" in r.text, r.text
    assert await wait_until(lambda: poison.engine.num_unfinished() == 0, within=2.0)
    await _settled(poison)


# ---- item 2: bounded metric labels


# The only `endpoint` label values there may be ("any": a drain timeout's aborts).
KNOWN_ENDPOINTS = {
    "/", "/api/version", "/api/generate", "/api/chat", "/api/tags", "/api/ps", "/api/show",
    "/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/embed",
    "/api/embeddings", "/api/blobs", "/v1/chat/completions", "/v1/completions",
    "/v1/embeddings", "/v1/models", "/v1/messages", "/v1/responses",
}  # fmt: skip


def _series(text: str) -> set[str]:
    return {ln.rsplit(" ", 1)[0] for ln in text.splitlines() if ln.startswith("pasture_")}


async def test_junk_paths_add_no_series(
    tiny_model_dir: Path, engine: Engine, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text("secret\n")
    cfg = tiny_config(tiny_model_dir, api_keys_file=str(keys))
    auth = {"Authorization": "Bearer secret"}
    async with serve(cfg, engine) as s, httpx.AsyncClient(base_url=s.url, timeout=30) as c:
        # One of each kind first: the "other" endpoint's series may appear once.
        await c.get("/v1/warmup")
        await c.get("/v1/warmup", headers=auth)
        await c.post("/api/nothing", headers=auth)
        await c.get("/v1/models/warmup", headers=auth)
        before = _series((await c.get("/metrics")).text)
        for i in range(80):
            await c.post(f"/v1/junk-{i}/x{i}", json={})  # 401: no key
            await c.get(f"/v1/models-{i}", headers=auth)  # 404
            await c.get(f"/v1/models/nope-{i}", headers=auth)  # a known route, unknown model
            await c.post(f"/api/junk{i}", headers=auth)
        text = (await c.get("/metrics")).text
    after = _series(text)
    assert after == before, sorted(after - before)
    endpoints = set(re.findall(r'endpoint="([^"]*)"', text))
    assert endpoints <= {*KNOWN_ENDPOINTS, "other", "any"}, endpoints
    models = set(re.findall(r'model="([^"]*)"', text))
    assert models == {MODEL}, models


# ---- item 3: the body limit holds while reading


class _PeakRss:
    """The process's resident memory, sampled every few milliseconds."""

    def __init__(self) -> None:
        self.peak = self.start = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _chunked(total: int, prefix: bytes = b'{"model": "tiny", "prompt": "') -> Iterator[bytes]:
    """A JSON-looking body of `total` bytes, sent chunked (no Content-Length);
    the same 64 kB chunk every time, so the client itself allocates nothing."""
    yield prefix
    chunk = b"a" * 65536
    sent = len(prefix)
    while sent < total:
        yield chunk
        sent += len(chunk)


@pytest.mark.parametrize(
    "path", ["/api/generate", "/api/chat", "/api/show", "/v1/chat/completions", "/v1/embeddings"]
)
async def test_chunked_body_over_the_limit_is_413(small_body: Served, path: str) -> None:
    def post() -> httpx.Response:
        with httpx.Client(base_url=small_body.url, timeout=120) as c:
            return c.post(path, content=_chunked(1_000_000))

    r = await asyncio.to_thread(post)
    assert r.status_code == 413, r.text
    assert "request body too large" in r.text
    await _settled(small_body)


async def test_huge_chunked_body_is_refused_without_buffering(small_body: Served) -> None:
    """96 MB chunked against a 100 kB limit: refused, and this process (the
    server runs in it) grows by well under half the body."""

    def post() -> httpx.Response:
        with httpx.Client(base_url=small_body.url, timeout=300) as c:
            return c.post("/api/generate", content=_chunked(96 * 1024 * 1024))

    with _PeakRss() as rss:
        r = await asyncio.to_thread(post)
    assert r.status_code == 413, r.text
    grown = rss.peak - rss.start
    assert grown < 48 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MiB"
    await _settled(small_body)


# ---- item 4: NaN, Infinity and huge numbers


BAD_NUMBERS = [
    ("/api/generate", '"options": {"temperature": NaN}', "temperature"),
    ("/api/generate", '"options": {"top_p": Infinity}', "top_p"),
    ("/api/generate", '"options": {"min_p": -Infinity}', "min_p"),
    ("/api/generate", '"options": {"seed": 1e400}', "seed"),
    ("/api/generate", '"options": {"seed": NaN}', "seed"),
    ("/api/generate", '"options": {"seed": 18446744073709551616}', "seed"),
    ("/api/generate", '"options": {"seed": 9223372036854775808}', "seed"),
    ("/api/generate", '"options": {"num_predict": 1e400}', "num_predict"),
    ("/api/generate", '"options": {"top_k": 100000000000000000000000000000}', "top_k"),
    ("/api/generate", '"options": {"num_ctx": -Infinity}', "num_ctx"),
    ("/api/generate", '"options": {"repeat_last_n": 1e300}', "repeat_last_n"),
    ("/api/chat", '"options": {"repeat_penalty": NaN}', "repeat_penalty"),
    ("/api/chat", '"options": {"num_keep": Infinity}', "num_keep"),
    ("/api/generate", '"context": [1, 1180591620717411303424]', "context"),
    ("/v1/chat/completions", '"seed": 9223372036854775808', "seed"),
    ("/v1/chat/completions", '"temperature": NaN', "temperature"),
    ("/v1/chat/completions", '"top_p": Infinity', "top_p"),
    ("/v1/chat/completions", '"max_tokens": 1e400', "max_tokens"),
    ("/v1/chat/completions", '"frequency_penalty": -Infinity', "frequency_penalty"),
    ("/v1/completions", '"seed": -9223372036854775809', "seed"),
    ("/v1/completions", '"repetition_penalty": NaN', "repetition_penalty"),
    ("/v1/completions", '"max_tokens": 100000000000000000000000000000', "max_tokens"),
]


def _body_for(path: str, extra: str) -> str:
    if path == "/api/generate":
        return '{"model": "tiny", "prompt": "hello there", "stream": false, ' + extra + "}"
    if path == "/v1/completions":
        return '{"model": "tiny", "prompt": "hello there", ' + extra + "}"
    messages = '"messages": [{"role": "user", "content": "hi"}]'
    return '{"model": "tiny", "stream": false, ' + messages + ", " + extra + "}"


@pytest.mark.parametrize(("path", "extra", "name"), BAD_NUMBERS)
async def test_non_finite_and_huge_numbers_are_400_naming_the_field(
    server: Served, path: str, extra: str, name: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        r = await c.post(
            path, content=_body_for(path, extra), headers={"content-type": "application/json"}
        )
    assert r.status_code == 400, (r.status_code, r.text)
    error = r.json()["error"]
    message = error["message"] if isinstance(error, dict) else error
    assert name in message, message


async def test_seed_at_the_int64_bounds_is_served(server: Served) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        for seed in (0, 2**63 - 1):
            body = {"model": MODEL, "prompt": "hello there", "stream": False}
            r = await c.post(
                "/api/generate", json={**body, "options": {"seed": seed, "num_predict": 2}}
            )
            assert r.status_code == 200, r.text
        r = await c.post(
            "/v1/completions",
            json={"model": MODEL, "prompt": "hello there", "seed": 2**63 - 1, "max_tokens": 2},
        )
        assert r.status_code == 200, r.text
    await _settled(server)


# ---- item 6: CPU work before admission runs off the event loop


async def test_tokenizing_a_huge_prompt_does_not_stall_the_server(server: Served) -> None:
    """A prompt of a few MB takes seconds to tokenize on these CPUs; meanwhile
    the event loop keeps answering (probes, other clients). Both clients run
    in threads: the server lives in this test's event loop."""
    prompt = " ".join(f"w{i % 997}x" for i in range(700_000))  # about 4.5 MB
    body = {"model": MODEL, "prompt": prompt, "stream": False, "options": {"num_predict": 1}}
    latencies: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=server.url, timeout=300) as c:
            while not stop.is_set():
                started = time.monotonic()
                assert c.get("/api/version").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)

    def post() -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=300) as c:
            return c.post("/api/generate", json=body)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        r = await asyncio.to_thread(post)
    finally:
        stop.set()
        await asyncio.to_thread(poller.join)
    assert r.status_code == 200, r.text[:500]
    assert len(latencies) >= 3, latencies
    assert max(latencies) < 1.0, (
        f"/api/version took up to {max(latencies):.1f} s while a prompt was tokenized"
    )
    await _settled(server)


async def test_drain_timeout_refuses_the_queue(tiny_model_dir: Path, engine: Engine) -> None:
    """A drain that times out aborts what runs; what waited in the queue is
    refused (503), not handed the slots the aborts free: nothing is left
    generating afterwards, every ticket is back."""
    cfg = tiny_config(tiny_model_dir, max_running=1, max_waiting=1)
    long = {"model": MODEL, "prompt": "hello there", "options": {"num_predict": 1500}}
    async with (
        serve(cfg, NoEosEngine(engine.llm)) as s,
        httpx.AsyncClient(base_url=s.url, timeout=120) as c,
        c.stream("POST", "/api/generate", json=long) as running,
    ):
        lines = running.aiter_lines()
        await lines.__anext__()
        queued = asyncio.create_task(c.post("/api/generate", json={**long, "stream": False}))
        adm = s.runtime.admission
        assert adm is not None
        assert await wait_until(lambda: adm.waiting == 1)
        await drain(s.runtime, 0.5, lambda: None)
        r = await queued
        assert r.status_code == 503, r.text
        assert "shutting down" in r.json()["error"], r.text
        assert await wait_until(lambda: s.engine.num_unfinished() == 0, within=5)
        assert adm.in_flight == 0
        assert not s.engine.active

"""Embeddings end to end: the tiny model on vLLM's pooling runner (a second,
session-scoped engine that only these tests start) behind the runtime, through
the official `ollama` and `openai` clients."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from tests.runtime.harness import Served, serve

pytestmark = pytest.mark.engine

EMBED = "tiny-embed:latest"
DIMS = 128  # the tiny model's hidden size


def _config(model_dir: Path, runner: str) -> RuntimeConfig:
    return RuntimeConfig.model_validate(
        {
            "engine": {"model": str(model_dir), "runner": runner, "max_model_len": 2048},
            "models": [{"name": EMBED}],
            "server": {"host": "127.0.0.1"},
        }
    )


@pytest.fixture(scope="module")
def pooling(vllm_pooling_engine: Any) -> Engine:
    return Engine(vllm_pooling_engine)


@pytest.fixture(scope="module")
async def embed_server(tiny_model_dir: Path, pooling: Engine) -> AsyncIterator[Served]:
    async with serve(_config(tiny_model_dir, "pooling"), pooling) as s:
        yield s


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def _tokens(engine: Engine, *texts: str) -> int:
    return sum(len(engine.encode(t, add_special_tokens=True)) for t in texts)


async def test_ollama_client_embed(embed_server: Served) -> None:
    c = ollama.AsyncClient(host=embed_server.url)
    one = await c.embed(model="tiny-embed", input="Cows graze in the pasture.")
    assert one.model == "tiny-embed"
    assert len(one.embeddings) == 1
    assert len(one.embeddings[0]) == DIMS
    assert abs(_norm(list(one.embeddings[0])) - 1) < 1e-4
    assert one.prompt_eval_count == _tokens(embed_server.engine, "Cows graze in the pasture.")
    assert one.total_duration
    assert one.load_duration
    texts = ["Cows graze in the pasture.", "The quick brown fox."]
    two = await c.embed(model=EMBED, input=texts)
    assert len(two.embeddings) == 2
    assert two.prompt_eval_count == _tokens(embed_server.engine, *texts)
    # Deterministic, and each input keeps its own vector in a batch.
    assert two.embeddings[0] == pytest.approx(one.embeddings[0], abs=1e-3)
    assert two.embeddings[1] != pytest.approx(two.embeddings[0], abs=1e-3)


async def test_dimensions_cut_and_renormalise(embed_server: Served) -> None:
    c = ollama.AsyncClient(host=embed_server.url)
    full = (await c.embed(model=EMBED, input="hello")).embeddings[0]
    cut = (await c.embed(model=EMBED, input="hello", dimensions=16)).embeddings[0]
    assert len(cut) == 16
    assert abs(_norm(list(cut)) - 1) < 1e-4
    head = list(full[:16])
    assert cut == pytest.approx([x / _norm(head) for x in head], abs=1e-3)


async def test_truncate(embed_server: Served) -> None:
    c = ollama.AsyncClient(host=embed_server.url)
    long = "the quick brown fox jumps over the lazy dog " * 400  # > 2048 tokens
    out = await c.embed(model=EMBED, input=long)
    assert out.prompt_eval_count == 2048
    assert len(out.embeddings[0]) == DIMS
    with pytest.raises(ollama.ResponseError) as err:
        await c.embed(model=EMBED, input=long, truncate=False)
    assert err.value.status_code == 400
    assert err.value.error == "input exceeds maximum context length"
    # A smaller num_ctx cuts earlier.
    small = await c.embed(model=EMBED, input=long, options={"num_ctx": 64})
    assert small.prompt_eval_count == 64


async def test_legacy_embeddings_and_empty_inputs(embed_server: Served) -> None:
    c = ollama.AsyncClient(host=embed_server.url)
    legacy = await c.embeddings(model=EMBED, prompt="hello")
    assert len(legacy.embedding) == DIMS
    new = (await c.embed(model=EMBED, input="hello")).embeddings[0]
    assert list(legacy.embedding) == pytest.approx(list(new), abs=1e-3)
    async with httpx.AsyncClient(base_url=embed_server.url, timeout=60) as h:
        r = await h.post("/api/embed", json={"model": EMBED, "input": ""})
        assert r.json() == {"model": EMBED, "embeddings": []}
        r = await h.post("/api/embeddings", json={"model": EMBED})
        assert r.json() == {"embedding": []}


async def test_openai_client_embeddings(embed_server: Served) -> None:
    c = openai.AsyncOpenAI(base_url=embed_server.url + "/v1", api_key="x", max_retries=0)
    # The SDK asks for base64 by default and decodes it itself.
    out = await c.embeddings.create(model=EMBED, input=["hello", "The quick brown fox."])
    assert out.object == "list"
    assert out.model == EMBED
    assert [d.index for d in out.data] == [0, 1]
    assert len(out.data[0].embedding) == DIMS
    tokens = _tokens(embed_server.engine, "hello", "The quick brown fox.")
    assert out.usage.prompt_tokens == out.usage.total_tokens == tokens
    ollama_vec = (await ollama.AsyncClient(host=embed_server.url).embed(EMBED, "hello")).embeddings
    assert out.data[0].embedding == pytest.approx(list(ollama_vec[0]), abs=1e-3)
    floats = await c.embeddings.create(
        model=EMBED, input="hello", encoding_format="float", dimensions=8
    )
    assert len(floats.data[0].embedding) == 8
    ids = embed_server.engine.encode("hello", add_special_tokens=True)
    by_ids = await c.embeddings.create(model=EMBED, input=ids)
    assert by_ids.data[0].embedding == pytest.approx(out.data[0].embedding, abs=1e-3)
    async with httpx.AsyncClient(base_url=embed_server.url, timeout=60) as h:
        body = {"model": EMBED, "input": "hello", "encoding_format": "base64"}
        raw = (await h.post("/v1/embeddings", json=body)).json()["data"][0]["embedding"]
        decoded = struct.unpack(f"<{DIMS}f", base64.b64decode(raw))
        assert list(decoded) == pytest.approx(out.data[0].embedding, abs=1e-3)


async def test_embedding_model_errors(embed_server: Served) -> None:
    async with httpx.AsyncClient(base_url=embed_server.url, timeout=60) as h:
        r = await h.post("/api/generate", json={"model": "tiny-embed", "prompt": "hi"})
        assert (r.status_code, r.json()) == (
            400,
            {"error": '"tiny-embed" does not support generate'},
        )
        r = await h.post("/api/chat", json={"model": EMBED, "messages": []})
        assert (r.status_code, r.json()) == (400, {"error": f'"{EMBED}" does not support chat'})
        r = await h.post("/api/embed", json={"model": EMBED, "input": [1, 2]})
        assert (r.status_code, r.json()) == (400, {"error": "invalid input type"})
        r = await h.post("/api/embed", json={"model": "nope", "input": "x"})
        assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
        r = await h.post(
            "/v1/embeddings", json={"model": EMBED, "input": "x", "encoding_format": "hex"}
        )
        assert r.status_code == 400
        assert r.json()["error"]["type"] == "invalid_request_error"
        r = await h.post("/v1/embeddings", json={"model": EMBED, "input": []})
        assert r.status_code == 400
        assert "invalid input" in r.json()["error"]["message"]
        r = await h.post("/api/show", json={"model": EMBED})
        assert r.json()["capabilities"] == ["embedding"]
    c = openai.AsyncOpenAI(base_url=embed_server.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        await c.chat.completions.create(model=EMBED, messages=[{"role": "user", "content": "hi"}])
    assert "does not support chat" in err.value.message


async def test_embed_on_a_generation_model(tiny_model_dir: Path, pooling: Engine) -> None:
    """The capability check is the config's runner: a generation model's
    runtime refuses embeddings before anything reaches an engine."""
    async with serve(_config(tiny_model_dir, "generate"), pooling) as s:
        with pytest.raises(ollama.ResponseError) as err:
            await ollama.AsyncClient(host=s.url).embed(model="tiny-embed", input="hi")
        assert (err.value.status_code, err.value.error) == (
            400,
            "tiny-embed does not support embedding",
        )
        c = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as oerr:
            await c.embeddings.create(model=EMBED, input="hi")
        assert "does not support embedding" in oerr.value.message
        async with httpx.AsyncClient(base_url=s.url) as h:
            shown = (await h.post("/api/show", json={"model": EMBED})).json()
        assert "embedding" not in shown["capabilities"]


class _CountingEngine(Engine):
    """The pooling engine, counting how many embeddings run at once."""

    def __init__(self, llm: Any) -> None:
        super().__init__(llm)
        self.now = self.most = 0

    async def embed(self, *args: Any, **kwargs: Any) -> Any:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            return await super().embed(*args, **kwargs)
        finally:
            self.now -= 1


@pytest.mark.parametrize("max_running", [1, 2])
async def test_each_embedding_input_holds_its_own_ticket(
    tiny_model_dir: Path, vllm_pooling_engine: Any, max_running: int
) -> None:
    """One engine request <=> one admission ticket: a batch of inputs never
    runs more engine requests at once than the running slots, and a batch
    larger than the slots still completes, every ticket released."""
    counting = _CountingEngine(vllm_pooling_engine)
    cfg = _config(tiny_model_dir, "pooling")
    cfg.server.max_running, cfg.server.max_waiting = max_running, 1
    texts = [f"input number {i}" for i in range(5)]
    async with serve(cfg, counting) as s, httpx.AsyncClient(base_url=s.url, timeout=60) as c:
        r = await c.post("/api/embed", json={"model": EMBED, "input": texts})
        assert r.status_code == 200
        assert len(r.json()["embeddings"]) == 5
        r = await c.post("/v1/embeddings", json={"model": EMBED, "input": texts})
        assert r.status_code == 200
        assert len(r.json()["data"]) == 5
        assert counting.most == max_running
        adm = s.runtime.admission
        assert adm is not None
        assert adm.in_flight == 0
        metrics = (await c.get("/metrics")).text
        assert 'pasture_requests_running{model="tiny-embed:latest"} 0.0' in metrics
        assert 'pasture_requests_waiting{model="tiny-embed:latest"} 0.0' in metrics

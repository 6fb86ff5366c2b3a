"""Logprobs through the real engine (vLLM's own), with each API's client:
ollama-python (Ollama's shape, streamed per chunk) and the openai SDK."""

from __future__ import annotations

import math
from typing import Any

import ollama
import openai
import pytest

from tests.runtime.harness import MODEL, Served
from tests.runtime.test_generate import post

pytestmark = pytest.mark.engine

OPTIONS = {"num_predict": 8, "temperature": 0}


def _check_token(t: Any, top: int) -> None:
    assert t.logprob <= 0
    assert math.isfinite(t.logprob)
    alts = t.top_logprobs or []
    assert len(alts) == top
    assert [a.logprob for a in alts] == sorted((a.logprob for a in alts), reverse=True)
    if alts:  # greedy: the chosen token is the most likely one
        assert t.logprob == pytest.approx(alts[0].logprob)


async def test_ollama_generate_and_chat_logprobs(server: Served) -> None:
    c = ollama.AsyncClient(host=server.url)
    out = await c.generate(
        model=MODEL, prompt="The cow", options=OPTIONS, logprobs=True, top_logprobs=3
    )
    assert out.logprobs
    assert len(out.logprobs) == out.eval_count
    for t in out.logprobs:
        _check_token(t, 3)
    chat = await c.chat(
        model=MODEL, messages=[{"role": "user", "content": "moo"}], options=OPTIONS,
        logprobs=True,
    )  # fmt: skip
    assert chat.logprobs
    assert len(chat.logprobs) == chat.eval_count
    assert all(not t.top_logprobs for t in chat.logprobs)
    plain = await c.generate(model=MODEL, prompt="The cow", options=OPTIONS)
    assert plain.logprobs is None
    assert plain.response == out.response


async def test_ollama_streamed_logprobs_come_with_their_chunks(server: Served) -> None:
    c = ollama.AsyncClient(host=server.url)
    parts = [
        p
        async for p in await c.chat(
            model=MODEL,
            messages=[{"role": "user", "content": "moo"}],
            options=OPTIONS,
            logprobs=True,
            top_logprobs=2,
            stream=True,
        )
    ]
    per_chunk = [len(p.logprobs or []) for p in parts]
    assert sum(per_chunk) == parts[-1].eval_count
    assert sum(1 for n in per_chunk[:-1] if n) >= 2  # streamed, not held to the end
    for p in parts:
        for t in p.logprobs or []:
            _check_token(t, 2)


async def test_raw_shape_has_bytes_and_top_range_is_ollamas_400(server: Served) -> None:
    # The client models drop `bytes`; the wire has them, as Ollama's stringToByteInts.
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": "The cow",
        "stream": False,
        "options": OPTIONS,
    }
    r = await post(server, "/api/generate", {**body, "logprobs": True, "top_logprobs": 1})
    for t in r.json()["logprobs"]:
        assert set(t) <= {"token", "logprob", "bytes", "top_logprobs"}
        assert t.get("bytes", []) == list(t["token"].encode("utf-8"))
        assert [a.get("bytes", []) for a in t["top_logprobs"]] == [
            list(a["token"].encode("utf-8")) for a in t["top_logprobs"]
        ]
    for path, extra in (
        ("/api/generate", {"prompt": "x"}),
        ("/api/chat", {"messages": [{"role": "user", "content": "x"}]}),
    ):
        for top in (-1, 21):
            r = await post(
                server, path, {"model": MODEL, "logprobs": True, "top_logprobs": top, **extra}
            )
            assert r.status_code == 400
            assert r.json() == {"error": "top_logprobs must be between 0 and 20"}


async def test_openai_chat_and_completions_logprobs(server: Served) -> None:
    c = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    messages: Any = [{"role": "user", "content": "moo"}]
    out = await c.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=8, temperature=0, logprobs=True, top_logprobs=2
    )
    content = (out.choices[0].logprobs and out.choices[0].logprobs.content) or []
    assert out.usage is not None
    assert len(content) == out.usage.completion_tokens
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)
    stream = await c.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=8, temperature=0, logprobs=True,
        top_logprobs=1, stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = [ch async for ch in stream]
    streamed = [
        t for ch in chunks if ch.choices and ch.choices[0].logprobs
        for t in ch.choices[0].logprobs.content or []
    ]  # fmt: skip
    assert chunks[-1].usage
    assert len(streamed) == chunks[-1].usage.completion_tokens
    text = await c.completions.create(
        model=MODEL, prompt="The cow", max_tokens=6, temperature=0, logprobs=2
    )
    lps = text.choices[0].logprobs
    assert lps is not None
    assert text.usage is not None
    assert len(lps.tokens or []) == len(lps.token_logprobs or []) == text.usage.completion_tokens
    assert all(1 <= len(t) <= 2 for t in lps.top_logprobs or [])
    with pytest.raises(openai.BadRequestError) as e:
        await c.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=2, logprobs=True, top_logprobs=25
        )
    assert "top_logprobs must be between 0 and 20" in str(e.value)

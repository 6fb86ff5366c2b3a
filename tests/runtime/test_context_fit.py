"""Prompts fitted to the context window, against the real engine (issue 18).

Long chats drop their oldest messages (never the system prompt or the last
user message) and leave room for the reply; tool definitions that cannot fit
are a clear 400; a reply never loses the bytes vLLM's detokenizer held back.
The tiny model's window is 2048 tokens (tests/fixtures/engine.py)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from pasture_runtime.engine import Engine
from pasture_runtime.protocol.ollama import ChatRequest
from pasture_runtime.translate import fit
from pasture_runtime.usecases.chat import prepare_chat
from pasture_runtime.usecases.common import Prepared
from tests.runtime import openwebui as owui
from tests.runtime.harness import MODEL, NoEosEngine, Served, serve, tiny_config

pytestmark = pytest.mark.engine

WINDOW = 2048
ROOM = fit.reply_room(WINDOW, None)  # 512: a quarter of the window
SYSTEM = "You are the pasture test assistant. Answer briefly."
LAST = "Why is the sky blue over the pasture today?"
GREEDY = {"temperature": 0, "seed": 1}


@pytest.fixture(scope="module")
async def noeos(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    """Replies never stop at EOS: eval_count shows the room the reply had."""
    config = tiny_config(tiny_model_dir)
    # A tool parser: these tests offer tools (a model without one refuses them).
    config.engine.tool_call_parser = "xlam"
    async with serve(config, NoEosEngine(engine.llm)) as s:
        yield s


def long_chat(engine: Engine, times: int = 10) -> list[dict[str, Any]]:
    """A system prompt, a history of `times` windows, and a last user message."""
    turn = "The quick brown fox jumps over the lazy dog. " * 6
    history: list[dict[str, Any]] = []
    tokens = 0
    while tokens < times * WINDOW:
        role = "user" if len(history) % 2 == 0 else "assistant"
        content = f"turn {len(history)}: {turn}"
        history.append({"role": role, "content": content})
        tokens += len(engine.encode(content, add_special_tokens=False))
    if history[-1]["role"] == "user":
        history.append({"role": "assistant", "content": "ok"})
    return [{"role": "system", "content": SYSTEM}, *history, {"role": "user", "content": LAST}]


async def post(server: Served, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
        return await c.post(path, json=body)


async def fitted_count(server: Served, endpoint: str, how: str) -> float:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        text = (await c.get("/metrics")).text
    pattern = (
        rf'pasture_prompts_fitted_total\{{endpoint="{re.escape(endpoint)}",how="{how}",'
        rf'model="{MODEL}"\}} ([0-9.]+)'
    )
    found = re.search(pattern, text)
    assert found, f"no {endpoint} {how} series"
    return float(found.group(1))


async def test_long_chat_drops_old_messages_and_leaves_room_to_answer(
    noeos: Served, caplog: pytest.LogCaptureFixture
) -> None:
    messages = long_chat(noeos.engine)
    body = {"model": MODEL, "messages": messages, "stream": False, "options": GREEDY}
    before = await fitted_count(noeos, "/api/chat", "messages_dropped")
    with caplog.at_level(logging.INFO, logger="pasture_runtime.usecases.prepare"):
        r = await post(noeos, "/api/chat", body)
    assert r.status_code == 200, r.text
    out = r.json()
    # Before: prompt_eval_count 2047, eval_count 1 (the window cut to window - 1).
    assert out["prompt_eval_count"] <= WINDOW - ROOM
    assert out["eval_count"] >= ROOM
    assert out["message"]["content"]
    assert out["prompt_eval_count"] + out["eval_count"] <= WINDOW
    # The prompt as rendered: the system prompt and the last user message are
    # in it, the oldest turns are not.
    prep = prepare_chat(noeos.runtime, ChatRequest.model_validate(body))
    assert isinstance(prep, Prepared)
    text = noeos.engine.decode(prep.prompt_ids)
    assert text.startswith(f"<|system|>\n{SYSTEM}</s>\n<|user|>\nturn ")
    assert text.endswith(f"<|user|>\n{LAST}</s>\n<|assistant|>\n")
    assert "turn 0:" not in text
    assert "turn 1:" not in text
    # Counted twice: the HTTP request and the direct prepare_chat above.
    assert await fitted_count(noeos, "/api/chat", "messages_dropped") == before + 2
    records = [r for r in caplog.records if "prompt fitted" in r.getMessage()]
    line = records[0].getMessage()
    assert "how=messages_dropped" in line
    assert "messages=" in line
    assert LAST not in line
    assert "quick brown fox" not in line
    fields = records[0].fields  # type: ignore[attr-defined]  # the JSON log's keys
    assert fields["how"] == "messages_dropped"
    assert fields["messages"] > 0
    assert fields["prompt_tokens"] <= WINDOW - ROOM
    assert fields["context_length"] == WINDOW


async def test_num_predict_is_the_room_kept_for_the_reply(noeos: Served) -> None:
    messages = long_chat(noeos.engine, times=2)
    options = {"num_predict": 64, **GREEDY}
    r = await post(
        noeos,
        "/api/chat",
        {"model": MODEL, "messages": messages, "stream": False, "options": options},
    )
    out = r.json()
    # Whole messages are dropped: the prompt fills the budget up to one turn.
    assert WINDOW // 2 < out["prompt_eval_count"] <= WINDOW - 64
    assert out["eval_count"] == 64
    assert out["done_reason"] == "length"


async def test_streamed_and_openai_chats_are_fitted_too(noeos: Served) -> None:
    messages = long_chat(noeos.engine, times=2)
    async with (
        httpx.AsyncClient(base_url=noeos.url, timeout=120) as c,
        c.stream(
            "POST",
            "/api/chat",
            json={"model": MODEL, "messages": messages, "options": {"num_predict": 16}},
        ) as r,
    ):
        lines = [json.loads(line) async for line in r.aiter_lines() if line]
    assert lines[-1]["eval_count"] == 16
    assert lines[-1]["prompt_eval_count"] <= WINDOW - 16
    assert "".join(x["message"]["content"] for x in lines)
    r = await post(
        noeos, "/v1/chat/completions", {"model": MODEL, "messages": messages, "max_tokens": 16}
    )
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["completion_tokens"] == 16
    assert usage["prompt_tokens"] <= WINDOW - 16
    assert await fitted_count(noeos, "/v1/chat/completions", "messages_dropped") >= 1


async def test_truncate_false_keeps_todays_error(server: Served) -> None:
    messages = long_chat(server.engine, times=2)
    r = await post(server, "/api/chat", {"model": MODEL, "messages": messages, "truncate": False})
    assert r.status_code == 400
    assert "exceeds the context length" in r.json()["error"]


async def test_a_last_message_too_long_for_the_window_is_a_clear_400(server: Served) -> None:
    huge = "The quick brown fox jumps over the lazy dog. " * 300
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": huge}]
    r = await post(server, "/api/chat", {"model": MODEL, "messages": messages})
    assert r.status_code == 400
    error = r.json()["error"]
    assert "the system prompt and the last user message take" in error
    assert f"{WINDOW} tokens" in error
    assert f"{ROOM} of them are kept for the reply" in error


async def test_36_open_webui_tools_are_a_clear_400_naming_the_tools(noeos: Served) -> None:
    assert 20_000 < len(json.dumps(owui.TOOLS)) < 30_000  # Open WebUI's ~25 KB
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": LAST}]
    for stream in (False, True):
        body = {"model": MODEL, "messages": messages, "tools": owui.TOOLS, "stream": stream}
        r = await post(noeos, "/api/chat", body)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error.startswith("prompt too long: the 36 tool definitions alone take ")
        assert "Offer fewer tools" in error
    r = await post(
        noeos, "/v1/chat/completions", {"model": MODEL, "messages": messages, "tools": owui.TOOLS}
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert "36 tool definitions" in err["message"]
    assert err["code"] == "context_length_exceeded"


async def test_a_few_tools_fit_beside_a_long_chat(noeos: Served) -> None:
    messages = long_chat(noeos.engine, times=2)
    body = {"model": MODEL, "messages": messages, "tools": owui.TOOLS[:3], "stream": False}
    body["options"] = {"num_predict": 32, **GREEDY}
    r = await post(noeos, "/api/chat", body)
    assert r.status_code == 200, r.text
    assert r.json()["eval_count"] == 32
    prep = prepare_chat(noeos.runtime, ChatRequest.model_validate(body))
    assert isinstance(prep, Prepared)
    text = noeos.engine.decode(prep.prompt_ids)
    assert all(t["function"]["name"] in text for t in owui.TOOLS[:3])
    assert LAST in text


async def test_generate_leaves_room_to_answer(noeos: Served) -> None:
    prompt = "The quick brown fox jumps over the lazy dog. " * 400
    before = await fitted_count(noeos, "/api/generate", "tokens_cut")
    r = await post(noeos, "/api/generate", {"model": MODEL, "prompt": prompt, "stream": False})
    out = r.json()
    assert out["prompt_eval_count"] == WINDOW - ROOM
    assert out["eval_count"] == ROOM
    assert await fitted_count(noeos, "/api/generate", "tokens_cut") == before + 1


async def test_open_webui_traffic_through_the_ollama_client(noeos: Served) -> None:
    client = ollama.AsyncClient(host=noeos.url)
    messages = long_chat(noeos.engine, times=3)
    # Its default: the 36 built-in tools with every chat. Too many for this
    # window: a 400 that says so, never a one-token reply.
    with pytest.raises(ollama.ResponseError) as e:
        async for _ in await client.chat(
            model=MODEL, messages=messages, tools=owui.TOOLS, options=owui.OPTIONS,
            keep_alive=owui.KEEP_ALIVE, stream=True,
        ):  # fmt: skip
            pass
    assert e.value.status_code == 400
    assert "36 tool definitions" in e.value.error
    # Without the tools (the user's setting): a real streamed reply.
    parts = [
        p
        async for p in await client.chat(
            model=MODEL, messages=messages, options={**owui.OPTIONS, "num_predict": 48},
            keep_alive=owui.KEEP_ALIVE, stream=True,
        )
    ]  # fmt: skip
    final = parts[-1]
    assert final.done
    assert final.eval_count == 48
    assert final.prompt_eval_count
    assert final.prompt_eval_count <= WINDOW - 48
    assert "".join(p.message.content or "" for p in parts)
    # The background tasks after a reply: a title, then tags (not streamed).
    history = [
        *messages[1:],
        {"role": "assistant", "content": "".join(p.message.content or "" for p in parts)},
    ]
    for task in (owui.title_task(history), owui.tags_task(history)):
        out = await client.chat(
            model=MODEL, messages=task, stream=False, keep_alive=owui.KEEP_ALIVE,
            options={"num_predict": 24},
        )  # fmt: skip
        assert out.done
        assert out.eval_count == 24
        assert out.message.content


class PartialByteEngine(Engine):
    """The shared engine, sampling only the byte 0xE2 (the first of a three-
    byte UTF-8 character) and never stopping at EOS: every reply ends on an
    incomplete character, which vLLM's detokenizer holds back."""

    def sampling_params(self, kwargs: dict[str, Any], max_tokens: int, fmt: Any) -> Any:
        params = super().sampling_params(kwargs, max_tokens, fmt)
        # ByteLevel BPE spells byte 0xE2 as the character U+00E2.
        params.allowed_token_ids = [self.tokenizer.convert_tokens_to_ids("\u00e2")]
        params.ignore_eos = True
        return params


@pytest.fixture(scope="module")
async def partial(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    async with serve(tiny_config(tiny_model_dir), PartialByteEngine(engine.llm)) as s:
        yield s


@pytest.mark.parametrize("num_predict", [1, 3])
async def test_a_reply_ending_on_a_partial_utf8_byte_has_content(
    partial: Served, num_predict: int
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    options = {"num_predict": num_predict}
    async with (
        httpx.AsyncClient(base_url=partial.url, timeout=60) as c,
        c.stream(
            "POST", "/api/chat", json={"model": MODEL, "messages": messages, "options": options}
        ) as r,
    ):
        lines = [json.loads(line) async for line in r.aiter_lines() if line]
    assert lines[-1]["eval_count"] == num_predict
    # Before: no content chunk at all (the held byte was never flushed).
    content = "".join(x["message"]["content"] for x in lines)
    assert content
    assert set(content) == {"\ufffd"}
    r = await post(
        partial,
        "/api/generate",
        {"model": MODEL, "prompt": "hi", "stream": False, "options": options},
    )
    assert r.json()["eval_count"] == num_predict
    assert r.json()["response"]


def test_long_prompts_do_not_warn_about_the_tokenizers_maximum(tiny_model_dir: Path) -> None:
    """transformers warns once per tokenizer object, and vLLM's tokenizer pool
    makes fresh copies: a fresh tokenizer here, as the pool would lend one."""
    from vllm.tokenizers.registry import get_tokenizer

    tokenizer: Any = get_tokenizer(str(tiny_model_dir))

    class Tokenizing:  # the one AsyncLLM method Engine.encode uses
        def get_tokenizer(self) -> Any:
            return tokenizer

    records: list[logging.LogRecord] = []

    class Recording(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Recording()
    logging.getLogger("transformers").addHandler(handler)
    try:
        ids = Engine(Tokenizing()).encode("The quick brown fox. " * 2000, add_special_tokens=False)
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert len(ids) > tokenizer.model_max_length
    assert not [r for r in records if "sequence length is longer" in r.getMessage()]


def test_default_context_is_the_models_own_capped_by_the_kv_cache(tiny_model_dir: Path) -> None:
    """No maxModelLen/maxContext: vLLM's auto-fit (-1), the model's maximum
    when the KV cache holds it, else the longest it holds (seen: 8 blocks of
    128 tokens gave 896 on the tiny model, whose own maximum is 2048)."""
    from pasture_runtime.config import EngineConfig
    from pasture_runtime.engine import engine_args

    assert engine_args(EngineConfig(model=str(tiny_model_dir))).max_model_len == -1
    explicit = EngineConfig(model=str(tiny_model_dir), max_model_len=1024)
    assert engine_args(explicit).max_model_len == 1024

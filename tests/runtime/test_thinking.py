"""Thinking: the trace split from the answer by vLLM's `deepseek_r1` parser.

Two layers:
- the parser and our streaming splitter on recorded model text (deterministic);
- end to end through the runtime. The random tiny model never writes
  `<think>` on its own, so guided decoding (a regex) forces the
  `<think>trace</think>answer` shape. Its tokenizer has no `<think>` token,
  which vLLM's parser insists on at construction, so the test gives the parser
  a vocabulary that has one (the split itself works on text)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from pasture_runtime.errors import OllamaError
from pasture_runtime.translate import thinking as th
from tests.runtime.harness import MODEL, Served, serve

SHAPE = r"<think>[a-z]{2,6}( [a-z]{2,6}){1,3}</think>[a-z]{2,6}( [a-z]{2,6}){1,3}"
WORDS = re.compile(r"[a-z]{2,6}( [a-z]{2,6}){1,3}")


class _Vocab:
    """A tokenizer stand-in for vLLM's parser constructor (ids it looks up)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def get_vocab(self) -> dict[str, int]:
        return {**self.tokenizer.get_vocab(), "<think>": 100_000, "</think>": 100_001}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)


def deepseek_r1(tokenizer: Any = None) -> Any:
    from vllm.reasoning import ReasoningParserManager

    vocab: Any = _Vocab(tokenizer or _Empty())  # duck-typed: the ids vLLM's parser looks up
    return ReasoningParserManager.get_reasoning_parser("deepseek_r1")(vocab)


class _Empty:
    def get_vocab(self) -> dict[str, int]:
        return {}


RECORDED = [
    ("<think>I should add.</think>The answer is 4.", "I should add.", "The answer is 4."),
    ("no start marker</think>answer", "no start marker", "answer"),
    ("<think>still thinking when cut off", "still thinking when cut off", ""),
    ("<think></think>just the answer", "", "just the answer"),
]


@pytest.mark.vllm
@pytest.mark.parametrize(("text", "reasoning", "content"), RECORDED)
def test_vllm_deepseek_r1_parser_on_recorded_text(text: str, reasoning: str, content: str) -> None:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    request = ChatCompletionRequest.model_validate({"model": "m", "messages": []})
    got = deepseek_r1().extract_reasoning(text, request)
    assert (got[0] or "", got[1] or "") == (reasoning, content)


@pytest.mark.parametrize(("text", "reasoning", "content"), RECORDED)
@pytest.mark.parametrize("step", [1, 2, 3, 7, 100])
def test_stream_splitter_matches_the_parser(
    text: str, reasoning: str, content: str, step: int
) -> None:
    """Fed in any chunking, the splitter agrees with the parser on the whole text."""
    splitter = th.StreamSplitter("<think>", "</think>")
    thinking, answer = "", ""
    for i in range(0, len(text), step):
        t, c = splitter.feed(text[i : i + step])
        thinking, answer = thinking + t, answer + c
    t, c = splitter.flush()
    assert (thinking + t, answer + c) == (reasoning, content)


@pytest.mark.parametrize(
    ("think", "variables"),
    [
        (None, {}),
        (True, {"enable_thinking": True, "thinking": True, "reasoning_effort": "medium"}),
        (False, {"enable_thinking": False, "thinking": False}),
        ("high", {"enable_thinking": True, "thinking": True, "reasoning_effort": "high"}),
        ("max", {"enable_thinking": True, "thinking": True, "reasoning_effort": "high"}),
    ],
)
def test_think_values(think: Any, variables: dict[str, Any]) -> None:
    th.check_think(think)
    assert th.template_variables(think) == variables
    assert th.hides_thinking(think) is (think is False)


@pytest.mark.parametrize(
    ("think", "error"),
    [
        ("extreme", 'invalid think value: "extreme" (must be "high", "medium", "low", "max", '
         "true, or false)"),
        ("HIGH", 'invalid think value: "HIGH" (must be "high", "medium", "low", "max", '
         "true, or false)"),
        (3, 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'),
    ],
)  # fmt: skip
def test_invalid_think_value_has_ollamas_words(think: Any, error: str) -> None:
    with pytest.raises(OllamaError) as e:
        th.check_think(think)
    assert e.value.status == 400
    assert e.value.message == error


class ThinkingEngine(Engine):
    """The shared engine with the output forced into the thinking shape."""

    def sampling_params(self, kwargs: dict[str, Any], max_tokens: int, fmt: Any) -> Any:
        from vllm.sampling_params import StructuredOutputsParams

        params = super().sampling_params(kwargs, max_tokens, fmt)
        params.structured_outputs = StructuredOutputsParams(regex=SHAPE)
        return params

    def _reasoning_parser(self, name: str) -> Any:
        assert name == "deepseek_r1"
        return deepseek_r1(self.tokenizer)


@pytest.fixture(scope="module")
async def think_server(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    config = RuntimeConfig.model_validate(
        {
            "engine": {"model": str(tiny_model_dir), "reasoning_parser": "deepseek_r1"},
            "models": [{"name": MODEL}],
            "server": {"host": "127.0.0.1"},
        }
    )
    async with serve(config, ThinkingEngine(engine.llm)) as s:
        yield s


OPTS = {"temperature": 0, "seed": 3, "num_predict": 80}
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.engine
async def test_chat_thinking_split_stream_and_hidden(think_server: Served) -> None:
    c = ollama.AsyncClient(host=think_server.url)
    out = await c.chat(model=MODEL, messages=HI, options=OPTS)
    thinking, content = out.message.thinking or "", out.message.content or ""
    assert WORDS.fullmatch(thinking), (thinking, content)
    assert WORDS.fullmatch(content), (thinking, content)
    parts = [p async for p in await c.chat(model=MODEL, messages=HI, options=OPTS, stream=True)]
    assert "".join(p.message.thinking or "" for p in parts) == thinking
    assert "".join(p.message.content or "" for p in parts) == content
    hidden = await c.chat(model=MODEL, messages=HI, options=OPTS, think=False)
    assert hidden.message.thinking is None
    assert hidden.message.content == content
    high = await c.chat(model=MODEL, messages=HI, options=OPTS, think="high")
    assert high.message.thinking == thinking
    shown = await c.show(MODEL)
    assert shown.capabilities == ["completion", "thinking"]


@pytest.mark.engine
async def test_generate_thinking_and_bad_think(think_server: Served) -> None:
    c = ollama.AsyncClient(host=think_server.url)
    out = await c.generate(model=MODEL, prompt="hi", options=OPTS)
    assert WORDS.fullmatch(out.thinking or "")
    assert WORDS.fullmatch(out.response or "")
    parts = [p async for p in await c.generate(model=MODEL, prompt="hi", options=OPTS, stream=True)]
    assert "".join(p.thinking or "" for p in parts) == out.thinking
    assert "".join(p.response or "" for p in parts) == out.response
    async with httpx.AsyncClient(base_url=think_server.url, timeout=60) as h:
        r = await h.post("/api/chat", json={"model": MODEL, "messages": HI, "think": "extreme"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid think value")


@pytest.mark.engine
async def test_openai_reasoning(think_server: Served) -> None:
    c = openai.AsyncOpenAI(base_url=think_server.url + "/v1", api_key="x", max_retries=0)
    kwargs: dict[str, Any] = {"model": MODEL, "messages": HI, "max_tokens": 80}
    kwargs.update(temperature=0, seed=3)
    out = await c.chat.completions.create(**kwargs, reasoning_effort="low")
    msg = out.choices[0].message
    extra = msg.model_extra or {}
    assert WORDS.fullmatch(extra["reasoning"])
    assert extra["reasoning_content"] == extra["reasoning"]
    assert msg.content
    assert WORDS.fullmatch(msg.content)
    stream = await c.chat.completions.create(**kwargs, stream=True)
    chunks = [ch async for ch in stream]
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert (
        "".join((d.model_extra or {}).get("reasoning") or "" for d in deltas) == extra["reasoning"]
    )
    assert "".join(d.content or "" for d in deltas) == msg.content

"""Structured outputs (Ollama `format`, OpenAI `response_format`) and tool
calls, against the real engine. The tiny model writes gibberish, so every
assertion here rests on vLLM's guided decoding: the output must parse and
validate because the grammar allows nothing else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import ollama
import openai
import pytest
from openai.types.chat import ChatCompletionToolParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import BaseModel

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from tests.runtime.harness import MODEL, Served, serve
from tests.runtime.test_generate import post
from tests.runtime.test_thinking import deepseek_r1
from tests.runtime.tool_defs import WEATHER

pytestmark = pytest.mark.engine


class Cow(BaseModel):
    # Closed choices only: a free string from random weights may never close
    # within the budget (xgrammar has no maxLength), which says nothing about us.
    name: Literal["Daisy", "Bella"]
    breed: Literal["angus", "jersey"]
    grazing: bool


async def test_ollama_format_schema_parses_back(server: Served) -> None:
    c = ollama.AsyncClient(host=server.url)
    out = await c.chat(
        model=MODEL,
        messages=[{"role": "user", "content": "describe a cow"}],
        format=Cow.model_json_schema(),
        options={"num_predict": 64, "temperature": 0.8, "seed": 3},
    )
    cow = Cow.model_validate_json(out.message.content or "")
    assert cow.breed in ("angus", "jersey")
    gen = await c.generate(
        model=MODEL, prompt="json please", format="json", options={"num_predict": 48}
    )
    assert gen.response is not None
    _json_object(gen.response, gen.done_reason)


def _json_object(text: str, done_reason: str | None) -> None:
    """`"json"` allows free-text keys, which random weights may not close in
    budget; the grammar still holds: an object so far, a whole one if it stopped."""
    assert text.startswith("{")
    assert not text[1:2].isspace()
    if done_reason == "stop":
        assert isinstance(json.loads(text), dict)


async def test_ollama_invalid_schema_is_400(server: Served) -> None:
    body = {"model": MODEL, "prompt": "x", "format": {"type": "nonsense"}}
    r = await post(server, "/api/generate", body)
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid JSON schema in format")
    r = await post(server, "/api/generate", {"model": MODEL, "prompt": "x", "format": "yaml"})
    assert r.status_code == 400
    assert "invalid format" in r.json()["error"]


async def test_openai_response_format(server: Served) -> None:
    c = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    schema: Any = {
        "type": "json_schema",
        "json_schema": {"name": "cow", "schema": Cow.model_json_schema()},
    }
    out = await c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "a cow"}],
        response_format=schema,
        max_tokens=64,
    )
    Cow.model_validate_json(out.choices[0].message.content or "")
    obj = await c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "json"}],
        response_format={"type": "json_object"},
        max_tokens=48,
    )
    _json_object(obj.choices[0].message.content or "", obj.choices[0].finish_reason)


# What the xLAM parser reads as a tool call: a JSON list of {name, arguments}.
# Guided decoding forces the model to write exactly that shape.
CALL_SHAPE = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "name": {"enum": ["get_weather"]},
            "arguments": {
                "type": "object",
                "properties": {"city": {"enum": ["Paris", "Oslo"]}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    },
}


async def test_tool_calls_ollama_shape_and_round_trip(tools_server: Served) -> None:
    """End to end, real parser: tools reach the template, guided decoding makes
    the model emit an xLAM-shaped call, vLLM's xlam parser extracts it."""
    c = ollama.AsyncClient(host=tools_server.url)
    messages = [{"role": "user", "content": "weather in Paris?"}]
    out = await c.chat(
        model=MODEL,
        messages=messages,
        tools=[WEATHER],
        format=CALL_SHAPE,
        options={"num_predict": 64},
    )
    calls = out.message.tool_calls
    assert calls
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments["city"] in ("Paris", "Oslo")
    assert out.message.content == ""
    # Round trip: the call and the tool's result go back through the template.
    follow: list[Any] = [
        *messages,
        {"role": "assistant", "content": "", "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "content": "18 degrees", "tool_name": "get_weather"},
    ]
    again = await c.chat(model=MODEL, messages=follow, tools=[WEATHER], options={"num_predict": 2})
    assert again.prompt_eval_count
    assert again.prompt_eval_count > out.prompt_eval_count  # type: ignore[operator]
    # Streaming: the call arrives whole in a chunk before the done one, the
    # same call a non-streaming request gets for the same output.
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": messages,
        "tools": [WEATHER],
        "format": CALL_SHAPE,
        "options": {"num_predict": 64, "temperature": 0},
    }
    whole = await c.chat(**kwargs)
    parts = [p async for p in await c.chat(**kwargs, stream=True)]
    assert parts[-1].done
    assert not parts[-1].message.tool_calls
    streamed = [t for p in parts[:-1] for t in p.message.tool_calls or []]
    assert [t.function.model_dump() for t in streamed] == [
        t.function.model_dump() for t in whole.message.tool_calls or []
    ]
    assert streamed[0].function.name == "get_weather"
    assert "".join(p.message.content or "" for p in parts) == ""


# Two calls in one answer: the first is complete (and sent) once the second starts.
TWO_CALLS = {
    "type": "array",
    "minItems": 2,
    "maxItems": 2,
    "items": {
        "type": "object",
        "properties": {
            "name": {"enum": ["get_weather"]},
            "arguments": {
                "type": "object",
                "properties": {"city": {"enum": ["Paris", "Oslo", "Bergen"]}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    },
}


async def test_streamed_tool_calls_each_arrive_when_complete(tools_server: Served) -> None:
    c = ollama.AsyncClient(host=tools_server.url)
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "weather in two cities?"}],
        "tools": [WEATHER],
        "format": TWO_CALLS,
        "options": {"num_predict": 160, "temperature": 0},
    }
    whole = await c.chat(**kwargs)
    assert len(whole.message.tool_calls or []) == 2
    parts = [p async for p in await c.chat(**kwargs, stream=True)]
    assert parts[-1].done
    assert not parts[-1].message.tool_calls
    with_calls = [i for i, p in enumerate(parts) if p.message.tool_calls]
    # One chunk per call: the first goes out once the second starts.
    assert len(with_calls) == 2
    assert with_calls[0] < with_calls[1]
    streamed = [t for i in with_calls for t in parts[i].message.tool_calls or []]
    assert [(t.function.name, t.function.arguments) for t in streamed] == [
        (t.function.name, t.function.arguments) for t in whole.message.tool_calls or []
    ]
    # On the wire (the client's model drops them): ids, and `index` across the message.
    body = {**kwargs, "stream": True}
    async with (
        httpx.AsyncClient(base_url=tools_server.url, timeout=60) as h,
        h.stream("POST", "/api/chat", json=body) as r,
    ):
        lines = [json.loads(line) async for line in r.aiter_lines() if line]
    wire = [t for line in lines for t in line["message"].get("tool_calls") or []]
    assert [t["function"]["index"] for t in wire] == [0, 1]
    assert all(t["id"] for t in wire)
    assert wire[0]["id"] != wire[1]["id"]


async def test_streamed_content_with_tools_and_no_call(tools_server: Served) -> None:
    """Tools offered, no call made: the answer streams as it is generated."""
    c = ollama.AsyncClient(host=tools_server.url)
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "tell me a story"}],
        "tools": [WEATHER],
        "options": {"num_predict": 16, "temperature": 0},
    }
    whole = await c.chat(**kwargs)
    assert whole.message.content
    assert not whole.message.tool_calls
    parts = [p async for p in await c.chat(**kwargs, stream=True)]
    assert parts[-1].done
    assert [p.done for p in parts].count(True) == 1
    contents = [p.message.content for p in parts[:-1] if p.message.content]
    assert len(contents) > 3, contents  # many chunks, not one held to the end
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert not any(p.message.tool_calls for p in parts)


async def test_show_lists_tools_with_a_parser(tools_server: Served) -> None:
    shown = await ollama.AsyncClient(host=tools_server.url).show(MODEL)
    assert shown.capabilities == ["completion", "tools"]


async def test_tool_calls_openai_shape(tools_server: Served) -> None:
    c = openai.AsyncOpenAI(base_url=tools_server.url + "/v1", api_key="x", max_retries=0)
    tools: list[ChatCompletionToolParam] = [WEATHER]  # type: ignore[list-item]
    schema: ResponseFormatJSONSchema = {
        "type": "json_schema",
        "json_schema": {"name": "call", "schema": CALL_SHAPE},
    }
    out = await c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        tools=tools,
        response_format=schema,
        max_tokens=64,
    )
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments)["city"] in ("Paris", "Oslo")  # type: ignore[union-attr]
    stream = await c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        tools=tools,
        response_format=schema,
        max_tokens=64,
        stream=True,
    )
    chunks = [ch async for ch in stream]
    deltas = [d for ch in chunks for d in (ch.choices[0].delta.tool_calls or [])]
    assert deltas
    assert deltas[0].index == 0
    assert deltas[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert all(ch.choices[0].finish_reason is None for ch in chunks[:-1])
    # A tool-call round trip in OpenAI's shape (arguments as a string) renders.
    follow = await c.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [call.model_dump()]},  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"},
        ],
        tools=tools,
        max_tokens=2,
    )
    assert follow.usage is not None
    assert follow.usage.prompt_tokens > out.usage.prompt_tokens  # type: ignore[union-attr]


def _reassemble(chunks: list[Any]) -> dict[int, dict[str, str]]:
    """OpenAI stream deltas -> calls by index, the way SDK users join them."""
    calls: dict[int, dict[str, str]] = {}
    for ch in chunks:
        for d in ch.choices[0].delta.tool_calls or []:
            call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = call["id"] or d.id or ""
            call["name"] += (d.function and d.function.name) or ""
            call["arguments"] += (d.function and d.function.arguments) or ""
    return calls


async def test_openai_streamed_tool_calls(tools_server: Served) -> None:
    c = openai.AsyncOpenAI(base_url=tools_server.url + "/v1", api_key="x", max_retries=0)
    schema = {"type": "json_schema", "json_schema": {"name": "calls", "schema": TWO_CALLS}}
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "weather in two cities?"}],
        "tools": [WEATHER],
        "response_format": schema,
        "max_tokens": 160,
        "temperature": 0,
    }
    whole = await c.chat.completions.create(**kwargs)
    expected = [
        (t.function.name, json.loads(t.function.arguments))
        for t in whole.choices[0].message.tool_calls or []
    ]
    assert len(expected) == 2
    chunks = [ch async for ch in await c.chat.completions.create(**kwargs, stream=True)]
    with_calls = [i for i, ch in enumerate(chunks) if ch.choices[0].delta.tool_calls]
    assert len(with_calls) == 2
    assert with_calls[0] < with_calls[1]  # each when complete
    calls = _reassemble(chunks)
    assert sorted(calls) == [0, 1]
    assert all(call["id"] for call in calls.values())
    assert [(calls[i]["name"], json.loads(calls[i]["arguments"])) for i in (0, 1)] == expected
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # No call made: content deltas as they come, finish_reason as usual.
    plain = {**kwargs, "messages": [{"role": "user", "content": "a story"}], "max_tokens": 16}
    del plain["response_format"]
    chunks = [ch async for ch in await c.chat.completions.create(**plain, stream=True)]
    assert len([ch for ch in chunks if ch.choices[0].delta.content]) > 3
    assert not _reassemble(chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


# Thinking and tools together: the trace is split off first, and only the
# answer goes through the tool parser (see test_thinking.py for the trick).
THINK_THEN_CALL = (
    r"<think>[a-z]{2,6}( [a-z]{2,6}){1,3}</think>"
    r'\[\{"name":"get_weather","arguments":\{"city":"(Paris|Oslo)"\}\}\]'
)


class ThinkThenCallEngine(Engine):
    def sampling_params(self, kwargs: dict[str, Any], max_tokens: int, fmt: Any) -> Any:
        from vllm.sampling_params import StructuredOutputsParams

        params = super().sampling_params(kwargs, max_tokens, fmt)
        params.structured_outputs = StructuredOutputsParams(regex=THINK_THEN_CALL)
        return params

    def _reasoning_parser(self, name: str) -> Any:
        return deepseek_r1(self.tokenizer)


@pytest.fixture(scope="module")
async def think_tools_server(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    config = RuntimeConfig.model_validate(
        {
            "engine": {
                "model": str(tiny_model_dir),
                "tool_call_parser": "xlam",
                "reasoning_parser": "deepseek_r1",
            },
            "models": [{"name": MODEL}],
            "server": {"host": "127.0.0.1"},
        }
    )
    async with serve(config, ThinkThenCallEngine(engine.llm)) as s:
        yield s


async def test_thinking_and_streamed_tool_calls(think_tools_server: Served) -> None:
    c = ollama.AsyncClient(host=think_tools_server.url)
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER],
        "options": {"num_predict": 80, "temperature": 0},
    }
    whole = await c.chat(**kwargs)
    assert whole.message.thinking
    assert whole.message.content == ""
    calls = whole.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].function.arguments["city"] in ("Paris", "Oslo")
    parts = [p async for p in await c.chat(**kwargs, stream=True)]
    assert "".join(p.message.thinking or "" for p in parts) == whole.message.thinking
    assert "".join(p.message.content or "" for p in parts) == ""
    streamed = [t for p in parts if not p.done for t in p.message.tool_calls or []]
    assert [t.function.model_dump() for t in streamed] == [calls[0].function.model_dump()]
    # `think: false` hides the trace; the call is the same.
    hidden = [p async for p in await c.chat(**kwargs, stream=True, think=False)]
    assert not any(p.message.thinking for p in hidden)
    assert [t.function.name for p in hidden for t in p.message.tool_calls or []] == ["get_weather"]


@pytest.mark.parametrize(
    ("parser", "text", "content", "calls"),
    [
        (
            "hermes",
            'Sure. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
            "Sure. ",
            [("get_weather", {"city": "Paris"})],
        ),
        ("hermes", "no call here", "no call here", []),
        (
            "xlam",
            '[{"name":"get_weather","arguments":{"city":"Oslo"}}]',
            None,
            [("get_weather", {"city": "Oslo"})],
        ),
    ],
)
async def test_vllm_parsers_on_recorded_text(
    engine: Engine,
    parser: str,
    text: str,
    content: str | None,
    calls: list[tuple[str, dict[str, str]]],
) -> None:
    """vLLM's parsers, called as the runtime calls them, on fixed model text."""
    left, found = engine.parse_tool_calls(parser, text, [WEATHER])
    assert left == content
    assert [(name, json.loads(args)) for _, name, args in found] == calls

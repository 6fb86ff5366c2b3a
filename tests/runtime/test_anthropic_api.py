"""POST /v1/messages end to end with the official `anthropic` SDK against the
real engine: a reply, a stream, tools (thinking, tool_use, tool_result round
trip, with vLLM's real parsers) and errors in Anthropic's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from tests.runtime.harness import MODEL, Served, serve
from tests.runtime.test_structured_tools import ThinkThenCallEngine

pytestmark = pytest.mark.engine

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# This SDK version no longer offers temperature/top_p/top_k; the API (and
# Ollama's) still reads them from the body.
GREEDY = {"temperature": 0, "top_k": 1}
ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "weather in Paris?"}]


def _client(served: Served) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=served.url, api_key="unused", max_retries=0)


async def test_messages_create_and_stream(server: Served) -> None:
    c = _client(server)
    kwargs: dict[str, Any] = {
        "model": MODEL, "max_tokens": 8, "messages": ASK, "system": "be brief",
        "stop_sequences": ["\n\n\n"], "extra_body": GREEDY,
    }  # fmt: skip
    whole = await c.messages.create(**kwargs)
    assert whole.type == "message"
    assert whole.role == "assistant"
    assert whole.model == MODEL
    assert whole.id.startswith("msg_")
    assert [b.type for b in whole.content] == ["text"]
    assert whole.stop_reason in ("end_turn", "max_tokens")
    assert whole.usage.input_tokens > 3
    assert 0 < whole.usage.output_tokens <= 8
    # The same request streamed: the SDK accumulates the events into the same message.
    async with c.messages.stream(**kwargs) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds[-2] == "message_delta"
    assert "content_block_delta" in kinds
    assert final.content[0].text == whole.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.stop_reason == whole.stop_reason


async def test_messages_errors_are_anthropic_shaped(server: Served) -> None:
    c = _client(server)
    with pytest.raises(anthropic.NotFoundError) as missing:
        await c.messages.create(model="nope", max_tokens=8, messages=ASK)
    assert missing.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model 'nope' not found"},
    }
    with pytest.raises(anthropic.BadRequestError) as bad:
        await c.messages.create(model=MODEL, max_tokens=0, messages=ASK)
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in bad.value.body["error"]["message"]  # type: ignore[index]
    async with httpx.AsyncClient(base_url=server.url) as h:
        r = await h.post("/v1/messages", content=b"{not json")
    assert r.status_code == 400
    assert r.json()["type"] == "error"


@pytest.fixture(scope="module")
async def tools_server(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    """vLLM's xlam tool parser and deepseek_r1 reasoning parser, the model made
    to think and then call get_weather (test_structured_tools.ThinkThenCallEngine)."""
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


async def test_tool_use_thinking_and_round_trip(tools_server: Served) -> None:
    c = _client(tools_server)
    kwargs: dict[str, Any] = {
        "model": MODEL, "max_tokens": 80, "messages": ASK, "tools": [WEATHER],
        "extra_body": GREEDY, "thinking": {"type": "enabled", "budget_tokens": 1024},
    }  # fmt: skip
    whole = await c.messages.create(**kwargs)
    assert [b.type for b in whole.content] == ["thinking", "tool_use"]
    call = whole.content[1]
    assert call.type == "tool_use"
    assert call.name == "get_weather"
    assert call.id
    assert call.input["city"] in ("Paris", "Oslo")  # type: ignore[index]
    assert whole.stop_reason == "tool_use"
    # Streamed: a thinking block, then the tool_use block (its input in one
    # input_json_delta), accumulated by the SDK into the same content.
    async with c.messages.stream(**kwargs) as stream:
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        final = await stream.get_final_message()
    assert "thinking_delta" in deltas
    assert deltas[-1] == "input_json_delta"
    assert final.content[0].thinking == whole.content[0].thinking  # type: ignore[union-attr]
    assert final.content[1].input == call.input  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    # Round trip: the call and its result go back through the template.
    follow = [
        *ASK,
        {"role": "assistant", "content": [b.model_dump() for b in whole.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees"}
        ]},
    ]  # fmt: skip
    again = await c.messages.create(**{**kwargs, "messages": follow})
    assert again.usage.input_tokens > whole.usage.input_tokens

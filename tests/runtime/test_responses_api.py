"""POST /v1/responses end to end with the official `openai` SDK against the
real engine: a response, its stream (Ollama's event sequence), a function
tool with reasoning (vLLM's real parsers) and the stateless refusal."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.runtime.harness import MODEL, Served
from tests.runtime.test_anthropic_api import tools_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.engine

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _client(served: Served) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


async def test_responses_create_and_stream(server: Served) -> None:
    c = _client(server)
    kwargs: dict[str, Any] = {
        "model": MODEL, "input": "hello", "instructions": "be brief",
        "max_output_tokens": 8, "temperature": 0,
    }  # fmt: skip
    whole = await c.responses.create(**kwargs)
    assert whole.object == "response"
    assert whole.status == "completed"
    assert whole.id.startswith("resp_")
    assert whole.model == MODEL
    assert [i.type for i in whole.output] == ["message"]
    assert whole.output_text
    assert whole.usage is not None
    assert whole.usage.input_tokens > 3
    assert 0 < whole.usage.output_tokens <= 8
    events = [e async for e in await c.responses.create(**kwargs, stream=True)]
    kinds = [e.type for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed",
    ]  # fmt: skip
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1].response  # type: ignore[union-attr]
    assert text == whole.output_text == done.output_text
    assert done.usage is not None
    assert done.usage.output_tokens == whole.usage.output_tokens
    # The SDK's stream helper rebuilds the response from the events (it checks their order).
    async with c.responses.stream(**kwargs) as helper:
        rebuilt = await helper.get_final_response()
    assert rebuilt.output_text == whole.output_text


async def test_responses_is_stateless_and_errors_are_openai_shaped(server: Served) -> None:
    c = _client(server)
    with pytest.raises(openai.BadRequestError) as e:
        await c.responses.create(model=MODEL, input="hi", previous_response_id="resp_1")
    assert "previous_response_id is not supported" in e.value.message
    with pytest.raises(openai.NotFoundError):
        await c.responses.create(model="nope", input="hi")


async def test_function_tool_with_reasoning(tools_server: Served) -> None:  # noqa: F811
    c = _client(tools_server)
    kwargs: dict[str, Any] = {
        "model": MODEL, "input": "weather in Paris?", "tools": [WEATHER],
        "max_output_tokens": 80, "temperature": 0, "reasoning": {"effort": "low"},
    }  # fmt: skip
    whole = await c.responses.create(**kwargs)
    assert [i.type for i in whole.output] == ["reasoning", "function_call"]
    call = whole.output[1]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert call.call_id
    assert '"city"' in call.arguments
    events = [e async for e in await c.responses.create(**kwargs, stream=True)]
    kinds = [e.type for e in events]
    assert kinds[-5:] == [
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert "response.reasoning_summary_text.delta" in kinds
    streamed = events[-1].response.output  # type: ignore[union-attr]
    assert [i.type for i in streamed] == ["reasoning", "function_call"]
    assert streamed[1].arguments == call.arguments  # type: ignore[union-attr]
    async with c.responses.stream(**kwargs) as helper:
        rebuilt = await helper.get_final_response()
    assert rebuilt.output[1].arguments == call.arguments  # type: ignore[union-attr]
    # Stateless round trip: the call and its output sent back as input items.
    follow = [
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"},
    ]  # fmt: skip
    again = await c.responses.create(**{**kwargs, "input": follow})
    assert again.usage
    assert whole.usage
    assert again.usage.input_tokens > whole.usage.input_tokens

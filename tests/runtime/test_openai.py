"""The OpenAI-compatible API through the official `openai` client (same loop)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.runtime.harness import MODEL, Served

pytestmark = pytest.mark.engine


def client(server: Served) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)


USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


async def test_chat_completion_non_streaming(server: Served) -> None:
    out = await client(server).chat.completions.create(
        model="tiny",
        messages=USER,
        max_tokens=5,
        temperature=0,
        seed=1,
    )
    assert out.object == "chat.completion"
    assert out.model == "tiny"
    assert out.id.startswith("chatcmpl-")
    choice = out.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert out.usage is not None
    assert out.usage.completion_tokens <= 5
    assert out.usage.prompt_tokens > 0
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


async def test_chat_completion_streaming_with_usage(server: Served) -> None:
    c = client(server)
    stream = await c.chat.completions.create(
        model=MODEL,
        messages=USER,
        max_tokens=6,
        temperature=0,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [ch async for ch in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    *body, finish, last = chunks
    assert finish.choices[0].finish_reason in ("stop", "length")
    assert last.choices == []
    assert last.usage is not None
    text = "".join(ch.choices[0].delta.content or "" for ch in body)
    # Same text as the non-streaming call with the same seed.
    whole = await c.chat.completions.create(
        model=MODEL,
        messages=USER,
        max_tokens=6,
        temperature=0,
        seed=1,
    )
    assert text == whole.choices[0].message.content
    assert whole.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens


async def test_sse_wire_format(server: Served) -> None:
    body = {"model": MODEL, "messages": USER, "max_tokens": 3, "stream": True}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as h:
        r = await h.post("/v1/chat/completions", json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = r.text.split("\n\n")
    assert events[-1] == ""
    assert events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])
    assert "usage" not in json.loads(events[0][6:])  # only with include_usage


async def test_completions_string_and_list_prompts(server: Served) -> None:
    c = client(server)
    one = await c.completions.create(model=MODEL, prompt="Cows", max_tokens=4, temperature=0)
    assert one.object == "text_completion"
    assert len(one.choices) == 1
    assert one.usage is not None
    assert 0 < one.usage.completion_tokens <= 4
    two = await c.completions.create(
        model=MODEL, prompt=["Cows", "The sky"], max_tokens=4, temperature=0
    )
    assert [ch.index for ch in two.choices] == [0, 1]
    assert two.choices[0].text == one.choices[0].text  # raw continuation, deterministic
    assert two.usage is not None
    assert two.usage.prompt_tokens > one.usage.prompt_tokens
    stream = await c.completions.create(
        model=MODEL,
        prompt=["Cows", "The sky"],
        max_tokens=4,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = [p async for p in stream]
    text0 = "".join(p.choices[0].text for p in parts if p.choices and p.choices[0].index == 0)
    assert text0 == one.choices[0].text
    assert parts[-1].usage is not None
    assert parts[-1].usage.completion_tokens == two.usage.completion_tokens


async def test_models_list_and_get(server: Served) -> None:
    c = client(server)
    listed = [m.id async for m in c.models.list()]
    assert listed == ["tiny:latest", "Tiny-Alias:latest"]
    got = await c.models.retrieve("tiny")
    assert got.id == "tiny:latest"
    assert got.owned_by == "pasture"
    with pytest.raises(openai.NotFoundError) as e:
        await c.models.retrieve("nope")
    assert e.value.code == "model_not_found"


async def test_openai_errors(server: Served) -> None:
    c = client(server)
    with pytest.raises(openai.NotFoundError) as nf:
        await c.chat.completions.create(model="nope", messages=USER)
    assert nf.value.code == "model_not_found"
    body: Any = nf.value.body
    assert set(body) == {"message", "type", "param", "code"}
    with pytest.raises(openai.BadRequestError) as think:
        await c.chat.completions.create(
            model=MODEL,
            messages=USER,
            reasoning_effort="low",
        )
    assert "does not support thinking" in think.value.message
    image: list[ChatCompletionMessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]
    with pytest.raises(openai.BadRequestError) as img:
        await c.chat.completions.create(model=MODEL, messages=image)
    assert "does not support images" in img.value.message
    bad: Any = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    with pytest.raises(openai.BadRequestError) as schema:
        await c.chat.completions.create(
            model=MODEL,
            messages=USER,
            response_format=bad,
        )
    assert "invalid JSON schema" in schema.value.message


async def test_openai_metrics_label(server: Served) -> None:
    await client(server).chat.completions.create(
        model=MODEL,
        messages=USER,
        max_tokens=1,
    )
    async with httpx.AsyncClient(base_url=server.url) as h:
        text = (await h.get("/metrics")).text
    assert 'endpoint="/v1/chat/completions"' in text
    assert (
        'pasture_output_tokens_total{endpoint="/v1/chat/completions",model="tiny:latest"}' in text
    )

"""langchain-ollama (ChatOllama, OllamaLLM, OllamaEmbeddings), a client
Pasture did not write, against the real runtime: chat, streaming, logprobs,
structured output, tools and embeddings. The tiny model writes gibberish, so
structured output and tool calls rest on guided decoding (`format`)."""

from __future__ import annotations

import asyncio

import ollama
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM

from tests.runtime.harness import MODEL, Served
from tests.runtime.test_embed import DIMS, EMBED, embed_server, pooling  # noqa: F401
from tests.runtime.test_structured_tools import CALL_SHAPE, Cow
from tests.runtime.tool_defs import WEATHER

pytestmark = pytest.mark.engine


async def test_chat_invoke_stream_and_usage(server: Served) -> None:
    # validate_model_on_init lists the models with the sync client: off this loop,
    # which serves the runtime.
    chat = await asyncio.to_thread(
        ChatOllama, model=MODEL, base_url=server.url, num_predict=4, validate_model_on_init=True
    )
    out = await chat.ainvoke("hi")
    assert isinstance(out, AIMessage)
    assert out.usage_metadata
    assert out.usage_metadata["input_tokens"] > 0
    assert out.usage_metadata["output_tokens"] > 0
    assert out.response_metadata["model_name"] == MODEL
    assert out.response_metadata["done_reason"] in ("stop", "length")
    chunks = [c async for c in chat.astream([("system", "Be brief."), ("human", "hi")])]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert any(c.response_metadata.get("done") for c in chunks)


async def test_logprobs_reach_response_metadata(server: Served) -> None:
    chat = ChatOllama(model=MODEL, base_url=server.url, num_predict=3, top_logprobs=2)
    out = await chat.ainvoke("hi")
    logprobs = out.response_metadata["logprobs"]  # the ollama client's Logprob models
    assert len(logprobs) == 3
    first = logprobs[0].model_dump()
    assert {"token", "logprob", "top_logprobs"} <= set(first)
    assert len(first["top_logprobs"]) == 2


async def test_completion_model(server: Served) -> None:
    llm = OllamaLLM(model=MODEL, base_url=server.url, num_predict=4)
    text = await llm.ainvoke("hi")
    assert isinstance(text, str)
    assert [c async for c in llm.astream("hi")]


async def test_structured_output(server: Served) -> None:
    chat = ChatOllama(model=MODEL, base_url=server.url, num_predict=64, temperature=0)
    cow = await chat.with_structured_output(Cow, method="json_schema").ainvoke("a cow")
    assert isinstance(cow, Cow)


async def test_bind_tools_gets_tool_calls(tools_server: Served) -> None:
    chat = ChatOllama(model=MODEL, base_url=tools_server.url, num_predict=64, format=CALL_SHAPE)
    out = await chat.bind_tools([WEATHER]).ainvoke("weather in Paris?")
    assert isinstance(out, AIMessage)
    assert out.tool_calls[0]["name"] == "get_weather"
    assert out.tool_calls[0]["args"]["city"] in ("Paris", "Oslo")


async def test_bind_tools_without_a_parser_is_refused(server: Served) -> None:
    """Refused as Ollama does (before, Pasture answered 200 and never a tool call)."""
    chat = ChatOllama(model=MODEL, base_url=server.url, num_predict=4)
    with pytest.raises(ollama.ResponseError) as e:
        await chat.bind_tools([WEATHER]).ainvoke("weather in Paris?")
    assert e.value.status_code == 400
    assert "does not support tools" in e.value.error


async def test_embeddings(embed_server: Served) -> None:  # noqa: F811
    emb = OllamaEmbeddings(model=EMBED, base_url=embed_server.url)
    docs = await emb.aembed_documents(["a cow", "a field"])
    assert len(docs) == 2
    assert all(len(d) == DIMS for d in docs)
    assert len(await emb.aembed_query("a cow")) == DIMS

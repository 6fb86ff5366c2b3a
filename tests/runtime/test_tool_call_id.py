"""`Message.tool_call_id` (Ollama's api.Message.ToolCallID) reaches the
template, from /api/chat and from /v1/chat/completions; `shift` is accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from pasture_runtime.protocol import ollama as p
from pasture_runtime.protocol import openai as o
from pasture_runtime.translate import openai_request as to_ollama
from pasture_runtime.translate.prompt import to_template_messages
from pasture_runtime.usecases.chat import prepare_chat
from pasture_runtime.usecases.common import Prepared
from tests.runtime.harness import MODEL, Served, serve
from tests.runtime.test_generate import post

# A template that shows what it gets: role, the tool call ids, content.
SHOWS_IDS = (
    "{% for m in messages %}[{{ m.role }}|{{ m.tool_call_id or '' }}|"
    "{% for c in m.tool_calls or [] %}{{ c.id }}{% endfor %}]{{ m.content }}\n{% endfor %}"
)
MESSAGES = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_7", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
    {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_7"},
]  # fmt: skip


def test_template_messages_carry_the_ids() -> None:
    msgs = to_template_messages([p.Message.model_validate(m) for m in MESSAGES])
    assert msgs[1]["tool_calls"][0]["id"] == "call_7"
    assert msgs[2]["tool_call_id"] == "call_7"
    assert "tool_call_id" not in msgs[0]


@pytest.fixture(scope="module")
async def ids_server(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    config = RuntimeConfig.model_validate(
        {
            "engine": {"model": str(tiny_model_dir)},
            "models": [{"name": MODEL, "template": SHOWS_IDS}],
            "server": {"host": "127.0.0.1"},
        }
    )
    async with serve(config, engine) as s:
        yield s


@pytest.mark.engine
async def test_tool_call_id_reaches_the_template_on_both_apis(ids_server: Served) -> None:
    rt = ids_server.runtime
    chat = prepare_chat(rt, p.ChatRequest.model_validate({"model": MODEL, "messages": MESSAGES}))
    assert isinstance(chat, Prepared)
    text = ids_server.engine.decode(chat.prompt_ids)
    assert "[assistant||call_7]" in text
    assert "[tool|call_7|]sunny" in text
    openai_body = o.ChatCompletionRequest.model_validate(
        {"model": MODEL, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [{"id": "call_7", "type": "function",
             "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_7", "content": "sunny"},
        ]}
    )  # fmt: skip
    ollama_body = p.ChatRequest.model_validate(to_ollama.chat_request(openai_body))
    chat = prepare_chat(rt, ollama_body)
    assert isinstance(chat, Prepared)
    assert "[tool|call_7|]sunny" in ids_server.engine.decode(chat.prompt_ids)
    # `shift` is accepted (see docs/runtime.md: the reply's room is kept up front).
    for shift in (True, False):
        body = {"model": MODEL, "messages": MESSAGES, "shift": shift, "stream": False}
        r = await post(ids_server, "/api/chat", {**body, "options": {"num_predict": 2}})
        assert r.status_code == 200, r.text

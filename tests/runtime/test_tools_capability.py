"""Tools on a model that cannot parse tool calls: refused, as Ollama refuses
them, by the same rule that decides whether /api/show lists `tools`."""

from __future__ import annotations

from typing import Any

import httpx
import ollama
import openai
import pytest

from tests.runtime.harness import MODEL, Served
from tests.runtime.test_generate import post
from tests.runtime.tool_defs import WEATHER

pytestmark = pytest.mark.engine

# CheckCapabilities' words: `<name> does not support tools` (server/routes.go
# scheduleRunner wraps them with the name, unquoted).
REFUSAL = f"{MODEL} does not support tools"


async def _get(server: Served, path: str) -> Any:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as h:
        return (await h.get(path)).json()


async def test_tools_without_a_parser_are_refused_on_both_apis(server: Served) -> None:
    c = ollama.AsyncClient(host=server.url)
    shown = await c.show(MODEL)
    assert "tools" not in (shown.capabilities or [])
    listed = (await _get(server, "/api/tags"))["models"]
    assert listed
    assert all(m["capabilities"] == shown.capabilities for m in listed)
    messages = [{"role": "user", "content": "weather?"}]
    for stream in (False, True):
        body = {"model": MODEL, "messages": messages, "tools": [WEATHER], "stream": stream}
        r = await post(server, "/api/chat", body)
        assert r.status_code == 400, r.text
        assert r.json() == {"error": REFUSAL}
    # Even a load request (no messages) with tools: Ollama checks capabilities first.
    r = await post(server, "/api/chat", {"model": MODEL, "messages": [], "tools": [WEATHER]})
    assert r.status_code == 400
    assert r.json() == {"error": REFUSAL}
    with pytest.raises(ollama.ResponseError) as e:
        await c.chat(model=MODEL, messages=messages, tools=[WEATHER])
    assert e.value.status_code == 400
    assert e.value.error == REFUSAL
    oa = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad:
        await oa.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER],  # type: ignore[list-item]
        )
    err = bad.value.body
    assert isinstance(err, dict)
    assert err["message"] == REFUSAL
    assert err["type"] == "invalid_request_error"
    # An empty tool list is no tools at all (Ollama checks `len(req.Tools) > 0`).
    empty: dict[str, Any] = {"model": MODEL, "messages": messages, "tools": [], "stream": False}
    empty["options"] = {"num_predict": 2}
    assert (await post(server, "/api/chat", empty)).status_code == 200


async def test_show_and_tags_list_tools_with_a_parser(tools_server: Served) -> None:
    c = ollama.AsyncClient(host=tools_server.url)
    assert (await c.show(MODEL)).capabilities == ["completion", "tools"]
    tags = await _get(tools_server, "/api/tags")
    assert [m["capabilities"] for m in tags["models"]] == [["completion", "tools"]]

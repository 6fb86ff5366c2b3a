"""Compatibility with the official `ollama` Python client (async, same loop)."""

from __future__ import annotations

import ollama
import pytest

from tests.runtime.harness import MODEL, Served

pytestmark = pytest.mark.engine


async def test_ollama_client_generate_chat_and_streaming(server: Served) -> None:
    client = ollama.AsyncClient(host=server.url)
    out = await client.generate(model="tiny", prompt="hi", options={"num_predict": 4})
    assert out.done
    assert out.eval_count
    assert out.prompt_eval_count
    assert out.total_duration
    assert out.context
    chat = await client.chat(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], options={"num_predict": 4}
    )
    assert chat.message.role == "assistant"
    assert chat.done_reason in ("stop", "length")
    parts = [
        p
        async for p in await client.chat(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            options={"num_predict": 6},
        )
    ]
    assert parts[-1].done
    assert not any(p.done for p in parts[:-1])
    gen_parts = [
        p
        async for p in await client.generate(
            model=MODEL, prompt="hi", stream=True, options={"num_predict": 3}
        )
    ]
    assert gen_parts[-1].done
    assert gen_parts[-1].eval_count


async def test_ollama_client_list_show_ps_version_pull(server: Served) -> None:
    client = ollama.AsyncClient(host=server.url)
    listed = await client.list()
    names = [m.model for m in listed.models]
    assert names == ["tiny:latest", "Tiny-Alias:latest"]
    assert listed.models[0].details
    assert listed.models[0].details.family == "llama"
    shown = await client.show("tiny")
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.modelinfo["general.parameter_count"] > 0
    assert shown.modelinfo["llama.context_length"] == 2048
    assert shown.capabilities == ["completion"]  # no tool parser configured
    assert shown.template
    assert "tools" in shown.template
    running = await client.ps()
    assert running.models[0].model == "tiny:latest"
    assert running.models[0].context_length == 2048
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as h:
        v = (await h.get("/api/version")).json()["version"]
    assert tuple(int(x) for x in v.split(".")) >= (0, 6, 4)
    pulled = await client.pull("tiny")
    assert pulled.status == "success"
    statuses = [p.status async for p in await client.pull("tiny", stream=True)]
    assert statuses[-1] == "success"


async def test_ollama_client_errors_raise_response_error(server: Served) -> None:
    client = ollama.AsyncClient(host=server.url)
    with pytest.raises(ollama.ResponseError) as e:
        await client.generate(model="nope", prompt="x")
    assert e.value.status_code == 404
    assert e.value.error == "model 'nope' not found"
    with pytest.raises(ollama.ResponseError) as e:
        await client.chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as e:
        await client.show("nope")
    assert e.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as e:
        await client.pull("nope")
    assert e.value.status_code == 404
    for call in (
        client.delete("tiny"),
        client.copy("tiny", "other"),
        client.create(model="x", from_="tiny"),
        client.push("tiny"),
    ):
        with pytest.raises(ollama.ResponseError) as e:
            await call
        assert e.value.status_code == 403
        assert "Model resources" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        await client.generate(model=MODEL, prompt="x", options={"temperature": "hot"})
    assert e.value.status_code == 400

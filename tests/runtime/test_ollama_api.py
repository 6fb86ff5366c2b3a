"""The rest of the Ollama surface against the real engine: options, context,
templates, errors, listings, management calls, load/unload."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.runtime.harness import MODEL, Served
from tests.runtime.test_generate import GREEDY, post

pytestmark = pytest.mark.engine


async def gen(server: Served, **body: Any) -> dict[str, Any]:
    r = await post(server, "/api/generate", {"model": MODEL, "stream": False, **body})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_same_seed_same_text(server: Served) -> None:
    opts = {"temperature": 0.9, "seed": 42, "num_predict": 16}
    a = await gen(server, prompt="Cows graze", options=opts)
    b = await gen(server, prompt="Cows graze", options=opts)
    assert a["response"] == b["response"]
    assert a["context"] == b["context"]


async def test_stop_string_cuts_output(server: Served) -> None:
    full = await gen(server, prompt="Hello", options={"num_predict": 24, **GREEDY})
    text = full["response"]
    assert len(text) > 6
    stop = text[3:6]
    first = text.index(stop)
    cut = await gen(server, prompt="Hello", options={"num_predict": 24, "stop": [stop], **GREEDY})
    assert cut["response"] == text[:first]
    assert cut["done_reason"] == "stop"
    # A lone string is accepted as a one-element list.
    alone = await gen(server, prompt="Hello", options={"num_predict": 24, "stop": stop, **GREEDY})
    assert alone["response"] == text[:first]


async def test_context_round_trip(server: Served) -> None:
    first = await gen(server, prompt="Hello", options={"num_predict": 4, **GREEDY})
    ctx = first["context"]
    assert len(ctx) == first["prompt_eval_count"] + first["eval_count"]
    second = await gen(server, prompt="again", context=ctx, options={"num_predict": 4, **GREEDY})
    assert second["prompt_eval_count"] > len(ctx)
    assert second["context"][: len(ctx)] == ctx


async def test_system_template_raw_and_suffix(server: Served) -> None:
    base = await gen(server, prompt="hi", options={"num_predict": 1})
    with_system = await gen(server, prompt="hi", system="be brief", options={"num_predict": 1})
    assert with_system["prompt_eval_count"] > base["prompt_eval_count"]
    raw = await gen(server, prompt="hi", raw=True, options={"num_predict": 1})
    assert raw["prompt_eval_count"] < base["prompt_eval_count"]
    templated = await gen(
        server,
        prompt="hi",
        template="{{ if .System }}{{ .System }} {{ end }}[{{ .Prompt }}]",
        options={"num_predict": 1},
    )
    assert templated["prompt_eval_count"] != base["prompt_eval_count"]
    r = await post(
        server, "/api/generate", {"model": MODEL, "prompt": "x", "raw": True, "system": "s"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "raw mode does not support template, system, or context"}
    r = await post(server, "/api/generate", {"model": MODEL, "prompt": "x", "suffix": "y"})
    assert r.status_code == 400
    assert "does not support insert" in r.json()["error"]
    r = await post(
        server,
        "/api/generate",
        {"model": MODEL, "prompt": "x", "template": '{{ template "t" }}{{ .Prompt }}'},
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("template:")


async def test_num_ctx_truncates_from_the_front_or_refuses(server: Served) -> None:
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 40
    out = await gen(server, prompt=long_prompt, options={"num_ctx": 64, "num_predict": 4, **GREEDY})
    assert out["prompt_eval_count"] <= 63
    assert out["prompt_eval_count"] + out["eval_count"] <= 64
    r = await post(
        server,
        "/api/generate",
        {"model": MODEL, "prompt": long_prompt, "truncate": False, "options": {"num_ctx": 64}},
    )
    assert r.status_code == 400
    assert "exceeds the context length" in r.json()["error"]


async def test_num_predict_minus_one_runs_until_context_full(server: Served) -> None:
    out = await gen(server, prompt="hi", options={"num_ctx": 40, "num_predict": -1, **GREEDY})
    assert out["prompt_eval_count"] + out["eval_count"] <= 40
    if out["done_reason"] == "length":
        assert out["prompt_eval_count"] + out["eval_count"] == 40


async def test_empty_prompt_and_messages_load_and_unload(server: Served) -> None:
    r = await post(server, "/api/generate", {"model": "tiny"})
    assert r.status_code == 200
    body = r.json()
    assert body["done"] is True
    assert body["done_reason"] == "load"
    assert body["response"] == ""
    for keep_alive in (0, "0", "0s"):
        r = await post(server, "/api/generate", {"model": "tiny", "keep_alive": keep_alive})
        assert r.json()["done_reason"] == "unload"
    r = await post(server, "/api/chat", {"model": "tiny", "messages": []})
    assert r.json()["done_reason"] == "load"
    assert r.json()["message"] == {"role": "assistant", "content": ""}
    r = await post(server, "/api/chat", {"model": "tiny", "messages": [], "keep_alive": "5m"})
    assert r.json()["done_reason"] == "load"
    r = await post(server, "/api/chat", {"model": "tiny", "keep_alive": 0})
    assert r.json()["done_reason"] == "unload"
    r = await post(server, "/api/generate", {"model": "tiny", "keep_alive": "5 minutes"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/generate", {"model": "nope", "prompt": "x"}, 404, "model 'nope' not found"),
        ("/api/chat", {"model": "nope", "messages": []}, 404, "model 'nope' not found"),
        ("/api/chat", {"model": "", "messages": []}, 400, "model is required"),
        ("/api/generate", {"prompt": "x"}, 400, "model is required"),
        ("/api/show", {"model": "nope"}, 404, "model 'nope:latest' not found"),
        ("/api/show", {}, 400, "model is required"),
        ("/api/pull", {"model": "nope"}, 404, "pull model manifest: file does not exist"),
        (
            "/api/generate",
            {"model": MODEL, "prompt": "x", "options": {"temperature": "hot"}},
            400,
            'option "temperature" must be of type float32',
        ),
        (
            "/api/chat",
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "x"}],
                "options": {"num_predict": "5"},
            },
            400,
            'option "num_predict" must be of type integer',
        ),
        (
            "/api/generate",
            {"model": MODEL, "prompt": "x", "options": {"stop": [1]}},
            400,
            'option "stop" must be of an array of strings',
        ),
    ],
)
async def test_error_catalogue(
    server: Served, path: str, body: dict[str, Any], status: int, error: str
) -> None:
    r = await post(server, path, body)
    assert (r.status_code, r.json()) == (status, {"error": error})


async def test_malformed_bodies_are_400_never_5xx(server: Served) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        for path in ("/api/generate", "/api/chat", "/api/show", "/api/pull", "/api/create"):
            r = await c.post(path)
            assert (r.status_code, r.json()) == (400, {"error": "missing request body"}), path
            r = await c.post(path, content=b"{not json")
            assert r.status_code == 400, path
            assert r.json()["error"].startswith("invalid JSON"), path
            r = await c.post(path, content=b"[1, 2]")
            assert r.status_code == 400, path
            assert "cannot unmarshal array" in r.json()["error"], path
        r = await c.post("/api/generate", json={"model": MODEL, "prompt": 5})
        assert r.status_code == 400
        assert r.json()["error"] == (
            "json: cannot unmarshal number into Go struct field GenerateRequest.prompt "
            "of type string"
        )
        r = await c.post("/api/chat", json={"model": MODEL, "messages": "hi"})
        assert r.status_code == 400
        r = await c.get("/api/nothing")
        assert (r.status_code, r.text) == (404, "404 page not found")
        r = await c.get("/api/generate")
        assert r.status_code == 405
        r = await c.post(
            "/api/generate", content=b"x" * (server.runtime.config.server.max_body_bytes + 1)
        )
        assert r.status_code == 413
        assert "error" in r.json()


async def test_curl_style_form_content_type_is_read_as_json(server: Served) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(
            "/api/generate",
            content=b'{"model":"tiny","prompt":"hi","stream":false,"options":{"num_predict":2}}',
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 200
    assert r.json()["done"] is True


async def test_unknown_options_and_fields_are_ignored(server: Served) -> None:
    out = await gen(
        server,
        prompt="hi",
        options={
            "num_predict": 2,
            "mirostat": 2,
            "tfs_z": 1.0,
            "made_up": [1],
            "num_gpu": 1,
            "typical_p": 0.5,
            "min_p": 0.1,
            "repeat_penalty": 1.2,
            "top_k": 5,
            "top_p": 0.5,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.5,
        },
        unknown_field={"x": 1},
        shift=True,
        logprobs=False,
    )
    assert out["done"] is True


async def test_per_model_parameters_override_defaults(server: Served) -> None:
    entry = server.runtime.registry.primary
    before = dict(entry.parameters)
    try:
        entry.parameters["num_predict"] = 3
        entry.parameters["temperature"] = 0
        out = await gen(server, prompt="The quick brown fox")
        assert out["eval_count"] <= 3
        # The request's options win over the model's.
        out = await gen(server, prompt="The quick brown fox", options={"num_predict": 5})
        assert out["eval_count"] <= 5
    finally:
        entry.parameters.clear()
        entry.parameters.update(before)


async def test_chat_accepts_tools_and_tool_messages(tools_server: Served) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    msgs = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
    ]
    for tools in ([], [tool]):
        r = await post(
            tools_server,
            "/api/chat",
            {
                "model": MODEL,
                "messages": msgs,
                "tools": tools,
                "stream": False,
                "options": {"num_predict": 2},
            },
        )
        assert r.status_code == 200, r.text


async def test_format_json_and_think_validation(server: Served) -> None:
    r = await post(
        server,
        "/api/generate",
        {
            "model": MODEL,
            "prompt": "json",
            "format": "json",
            "stream": False,
            "options": {"num_predict": 4},
        },
    )
    assert r.status_code == 200, r.text
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    r = await post(
        server,
        "/api/chat",
        {
            "model": MODEL,
            "format": schema,
            "stream": False,
            "messages": [{"role": "user", "content": "x"}],
            "options": {"num_predict": 4},
        },
    )
    assert r.status_code == 200, r.text
    r = await post(
        server,
        "/api/chat",
        {"model": MODEL, "think": True, "messages": [{"role": "user", "content": "x"}]},
    )
    assert (r.status_code, r.json()) == (400, {"error": '"tiny:latest" does not support thinking'})


async def test_names_are_case_insensitive_with_default_tag_and_aliases(server: Served) -> None:
    for name in ("TINY", "tiny:LATEST", "tiny-alias", "tiny-alias:latest"):
        out = await gen(server, model=name, prompt="hi", options={"num_predict": 1})
        assert out["model"] == name  # echoed as sent, as Ollama does

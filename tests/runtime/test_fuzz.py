"""Bounded property-based fuzzing of every Ollama endpoint, and of the OpenAI
ones, over real HTTP.

Hypothesis draws request bodies that are mostly shaped like the real ones
(known fields with values of any JSON type, the served model name most of the
time so that generation paths run) plus raw bytes that are not JSON at all.
Whatever arrives, the runtime must answer in the protocol's error shape with a
4xx, or succeed: never a 5xx, never a dropped connection.

The requests run in a worker thread with a blocking client because the server
lives in the test session's event loop, which must keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtime.harness import Served

pytestmark = pytest.mark.engine

# Numbers Python's JSON reader takes and Go's refuses: NaN and Infinity (from
# st.floats) and integers past int64.
HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**40)])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | HUGE
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
MODEL = st.sampled_from(["tiny", "tiny:latest", "TINY", "", "nope:1b", "tiny-alias"]) | JSON
OPTION_NAMES = [
    "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty",
    "frequency_penalty", "seed", "stop", "num_ctx", "num_predict", "mirostat", "num_gpu",
]  # fmt: skip
OPTIONS = st.dictionaries(st.sampled_from(OPTION_NAMES), JSON, max_size=5) | JSON
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "bogus"]) | JSON},
    optional={"content": st.text(max_size=30) | JSON, "images": JSON, "tool_calls": JSON},
)
COMMON = {
    "stream": st.booleans() | JSON,
    "options": OPTIONS,
    "format": st.sampled_from(["json", "", "xml"]) | JSON,
    "keep_alive": st.sampled_from([0, "5m", "-1", "1h30m", "x"]) | JSON,
    "think": JSON,
    "truncate": JSON,
}
BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/api/generate": st.fixed_dictionaries(
        {"model": MODEL},
        optional={
            **COMMON,
            "prompt": st.text(max_size=40) | JSON,
            "suffix": JSON,
            "system": JSON,
            "template": st.sampled_from(["{{ .Prompt }}", "{{ .Bad", "{% x %}"]) | JSON,
            "context": st.lists(st.integers(-5, 600), max_size=6) | JSON,
            "raw": JSON,
            "images": JSON,
        },
    ),
    "/api/chat": st.fixed_dictionaries(
        {"model": MODEL},
        optional={**COMMON, "messages": st.lists(MESSAGE, max_size=3) | JSON, "tools": JSON},
    ),
    "/api/show": st.fixed_dictionaries({"model": MODEL}, optional={"name": JSON, "verbose": JSON}),
    "/api/pull": st.fixed_dictionaries(
        {"model": MODEL}, optional={"stream": JSON, "insecure": JSON}
    ),
    "/api/copy": st.fixed_dictionaries({"source": MODEL, "destination": JSON}),
    "/api/create": st.fixed_dictionaries({"model": MODEL}, optional={"from": JSON, "system": JSON}),
}


OPENAI_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "developer", "x"]) | JSON},
    optional={
        "content": st.text(max_size=30)
        | st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "image_url", "input_audio"]) | JSON},
                optional={"text": JSON, "image_url": JSON},
            ),
            max_size=2,
        )
        | JSON,
        "tool_calls": JSON,
        "tool_call_id": JSON,
        "name": JSON,
    },
)
OPENAI_COMMON = {
    "stream": st.booleans() | JSON,
    "stream_options": st.just({"include_usage": True}) | JSON,
    "temperature": JSON,
    "top_p": JSON,
    "seed": JSON,
    "stop": JSON,
    "n": JSON,
    "presence_penalty": JSON,
    "frequency_penalty": JSON,
    "logprobs": JSON,
    "user": JSON,
}
OPENAI_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/v1/chat/completions": st.fixed_dictionaries(
        {"model": MODEL},
        optional={
            **OPENAI_COMMON,
            "messages": st.lists(OPENAI_MESSAGE, max_size=3) | JSON,
            "response_format": st.sampled_from(
                [{"type": "json_object"}, {"type": "json_schema"}, {"type": "text"}]
            )
            | JSON,
            "tools": JSON,
            "tool_choice": JSON,
            "reasoning_effort": st.sampled_from(["low", "none", "max"]) | JSON,
        },
    ),
    "/v1/completions": st.fixed_dictionaries(
        {"model": MODEL},
        optional={
            **OPENAI_COMMON,
            # Up to 30 prompts: more than the free admission slots (8 running + 16 waiting).
            "prompt": st.text(max_size=40) | st.lists(st.text(max_size=10), max_size=30) | JSON,
            "suffix": JSON,
            "echo": JSON,
        },
    ),
    # A generation model: every embeddings request is some 4xx, never a 5xx.
    "/v1/embeddings": st.fixed_dictionaries(
        {"model": MODEL},
        optional={"input": JSON, "encoding_format": JSON, "dimensions": JSON},
    ),
}


def _bounded(body: Any) -> Any:
    """Cap generation length so a drawn num_predict cannot make one example run for minutes."""
    if (
        isinstance(body, dict)
        and "options" not in body
        and any(key in body for key in ("messages", "prompt", "input"))
    ):  # an OpenAI body: the cap is max_tokens
        body["max_tokens"] = 3
        return body
    if isinstance(body, dict) and isinstance(body.get("options"), dict):
        body["options"]["num_predict"] = 3
    elif isinstance(body, dict):
        body["options"] = {"num_predict": 3}
    return body


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert "error" in response.json(), response.text[:500]
    elif response.headers.get("content-type", "").startswith("application/x-ndjson"):
        for line in response.text.splitlines():
            json.loads(line)  # every streamed line is a JSON object
    elif response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                json.loads(line[6:])  # every event is a JSON object


_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _fuzz_endpoint(client: httpx.Client, path: str, bodies: st.SearchStrategy[Any]) -> None:
    @_SETTINGS
    @given(body=bodies)
    def run(body: Any) -> None:
        # json.dumps writes NaN/Infinity as Python's reader takes them (httpx's
        # json= refuses to send them).
        raw = json.dumps(_bounded(body))
        _check(client.post(path, content=raw, headers={"content-type": "application/json"}))

    run()


def _fuzz_raw(client: httpx.Client, paths: list[str]) -> None:
    @_SETTINGS
    @given(raw=st.binary(max_size=64), path=st.sampled_from(paths))
    def run(raw: bytes, path: str) -> None:
        _check(client.post(path, content=raw, headers={"content-type": "application/json"}))

    run()


def _fuzz(base_url: str, bodies: dict[str, st.SearchStrategy[Any]]) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for path, strategy in bodies.items():
            _fuzz_endpoint(client, path, strategy)
        _fuzz_raw(client, sorted(bodies))


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_no_request_body_gives_a_5xx(server: Served, api: str) -> None:
    await asyncio.to_thread(_fuzz, server.url, BODIES if api == "ollama" else OPENAI_BODIES)
    # Nothing was left running in the engine after the storm.
    async with httpx.AsyncClient(base_url=server.url) as client:
        metrics = (await client.get("/metrics")).text
    gauges = [
        line
        for line in metrics.splitlines()
        if line.startswith(("pasture_requests_running", "pasture_requests_waiting"))
    ]
    assert len(gauges) == 2, gauges
    assert all(line.endswith(" 0.0") for line in gauges), gauges

"""The Anthropic Messages and OpenAI Responses APIs through the real gateway
and a real runtime (vLLM CPU engine, tiny model), with the official
`anthropic` and `openai` SDKs: routed by the body's model, streamed and not,
the gateway's own errors in each SDK's shape, and the engine's token counts
in the gateway's audit records (what the token limits are charged)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml

from pasture_gateway.protocol.errors import BUSY
from tests.fixtures.tiers import require_tier
from tests.gateway.harness import wait_until
from tests.gateway.test_tenancy_e2e import Stack, sha, start_stack

pytestmark = pytest.mark.engine
ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "cows"}]
GREEDY = {"temperature": 0, "top_k": 1}
_ONE = json.dumps({"model": "tiny-slot", "max_tokens": 1, "messages": ASK}).encode()


def _keys() -> str:
    return yaml.safe_dump({
        "keys": [
            {"id": "app", "sha256": sha("sk-app"), "tenant": "team-a", "models": ["tiny*"]},
            {"id": "ops", "sha256": sha("sk-ops"), "tenant": "ops", "scopes": ["metrics"]},
            {"id": "one", "sha256": sha("sk-one"), "tenant": "team-b",
             "limits": {"requestsPerMinute": 1}},
        ],
    })  # fmt: skip


@pytest.fixture(scope="module")
def stack(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tier("engine")
    tmp = tmp_path_factory.mktemp("gw-apis")
    # "tiny-slot" has one running slot and nobody may wait for it: the busy 503.
    started = start_stack(tiny_model_dir, tmp, _keys(), ["--max-queued", "0"], "tiny-slot")
    try:
        yield started
    finally:
        started.gateway.stop()
        started.runtime.stop()


def _anthropic(stack: Stack, key: str = "sk-app") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.gateway.url, api_key=key, max_retries=0)


def _openai(stack: Stack, key: str = "sk-app") -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.gateway.url + "/v1", api_key=key, max_retries=0)


def _records(stack: Stack, before: int) -> list[dict[str, Any]]:
    return stack.audit(stack.gateway)[before:]


def test_anthropic_messages_through_the_gateway(stack: Stack) -> None:
    before = len(stack.audit(stack.gateway))
    c = _anthropic(stack)  # api_key: the SDK's x-api-key header
    kwargs: dict[str, Any] = {
        "model": "tiny", "max_tokens": 8, "messages": ASK, "system": "be brief",
        "extra_body": GREEDY,
    }  # fmt: skip
    whole = c.messages.create(**kwargs)
    assert (whole.type, whole.model, [b.type for b in whole.content]) == (
        "message", "tiny", ["text"],
    )  # fmt: skip
    assert whole.usage.input_tokens > 3
    assert 0 < whole.usage.output_tokens <= 8
    bearer = anthropic.Anthropic(base_url=stack.gateway.url, auth_token="sk-app", max_retries=0)
    with bearer.messages.stream(**kwargs) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert (kinds[0], kinds[-2], kinds[-1]) == ("message_start", "message_delta", "message_stop")
    assert final.content[0].text == whole.content[0].text  # type: ignore[union-attr]
    wait_until(lambda: len(_records(stack, before)) >= 2, 10, "two records")
    counts = [
        (r["status"], r["prompt_tokens"], r["output_tokens"]) for r in _records(stack, before)
    ]
    usage = (200, whole.usage.input_tokens, whole.usage.output_tokens)
    assert counts == [usage, usage]  # streamed or not, the engine's counts


def test_openai_responses_through_the_gateway(stack: Stack) -> None:
    before = len(stack.audit(stack.gateway))
    c = _openai(stack)
    kwargs: dict[str, Any] = {
        "model": "tiny", "input": "cows", "instructions": "be brief",
        "max_output_tokens": 8, "temperature": 0,
    }  # fmt: skip
    whole = c.responses.create(**kwargs)
    assert (whole.status, whole.model) == ("completed", "tiny")
    assert whole.output_text
    assert whole.usage is not None
    events = list(c.responses.create(**kwargs, stream=True))
    assert (events[0].type, events[-1].type) == ("response.created", "response.completed")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == whole.output_text
    with c.responses.stream(**kwargs) as helper:
        assert helper.get_final_response().output_text == whole.output_text
    wait_until(lambda: len(_records(stack, before)) >= 3, 10, "three records")
    counts = [
        (r["status"], r["prompt_tokens"], r["output_tokens"]) for r in _records(stack, before)
    ]
    assert counts == [(200, whole.usage.input_tokens, whole.usage.output_tokens)] * 3


def _raw(stack: Stack, path: str, body: bytes, key: str = "sk-app") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    return httpx.post(stack.gateway.url + path, content=body, headers=headers, timeout=60)


def test_the_gateways_own_errors_in_anthropics_shape(stack: Stack) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        _anthropic(stack).messages.create(model="tiny-nope", max_tokens=8, messages=ASK)
    assert missing.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model 'tiny-nope' not found"},
    }
    with pytest.raises(anthropic.PermissionDeniedError) as forbidden:
        _anthropic(stack).messages.create(model="other", max_tokens=8, messages=ASK)
    assert forbidden.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    with pytest.raises(anthropic.PermissionDeniedError):  # no `infer` scope
        _anthropic(stack, "sk-ops").messages.create(model="tiny", max_tokens=8, messages=ASK)
    with pytest.raises(anthropic.AuthenticationError) as unknown:
        _anthropic(stack, "sk-nope").messages.create(model="tiny", max_tokens=8, messages=ASK)
    assert unknown.value.body["type"] == "error"  # type: ignore[index]
    bad = _raw(stack, "/v1/messages", b'{"max_tokens": 8}')
    assert (bad.status_code, bad.json()) == (
        400, {"type": "error", "error": {"type": "invalid_request_error",
                                         "message": "model is required"}},
    )  # fmt: skip
    assert _raw(stack, "/v1/messages", b"{").json()["error"]["type"] == "invalid_request_error"
    one = _anthropic(stack, "sk-one")
    one.messages.create(model="tiny", max_tokens=1, messages=ASK)
    with pytest.raises(anthropic.RateLimitError) as limited:
        one.messages.create(model="tiny", max_tokens=1, messages=ASK)
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(limited.value.response.headers["retry-after"]) > 0


def test_the_gateways_own_errors_in_openais_shape_on_responses(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        _openai(stack).responses.create(model="tiny-nope", input="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        _openai(stack).responses.create(model="other", input="x")
    assert forbidden.value.code == "model_forbidden"
    with pytest.raises(openai.AuthenticationError):
        _openai(stack, "sk-nope").responses.create(model="tiny", input="x")
    bad = _raw(stack, "/v1/responses", b'{"input": "x"}')
    assert bad.status_code == 400
    assert json.loads(bad.content)["error"]["message"] == "model is required"
    one = _openai(stack, "sk-one")
    with contextlib.suppress(openai.RateLimitError):  # its one request a minute, if left
        one.responses.create(model="tiny", input="x", max_output_tokens=1)
    with pytest.raises(openai.RateLimitError) as limited:
        one.responses.create(model="tiny", input="x", max_output_tokens=1)
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["retry-after"]) > 0


def test_a_full_queue_is_the_busy_503_in_each_shape(stack: Stack) -> None:
    body = {"model": "tiny-slot", "prompt": "count sheep", "options": {"num_predict": 100000}}
    headers = {"Authorization": "Bearer sk-app"}
    url = stack.gateway.url + "/api/generate"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=60) as r:
        lines = r.iter_lines()
        for _ in range(3):
            assert json.loads(next(lines))["done"] is False  # it holds the one slot
        with pytest.raises(anthropic.InternalServerError) as busy:
            _anthropic(stack).messages.create(model="tiny-slot", max_tokens=1, messages=ASK)
        assert (busy.value.status_code, busy.value.body) == (
            503, {"type": "error", "error": {"type": "overloaded_error", "message": BUSY}},
        )  # fmt: skip
        assert busy.value.response.headers["retry-after"] == "1"
        with pytest.raises(openai.InternalServerError) as full:
            _openai(stack).responses.create(model="tiny-slot", input="x", max_output_tokens=1)
        assert (full.value.status_code, full.value.type) == (503, "server_error")
        assert BUSY in full.value.message
    # The stream's client left: its slot is free again.
    wait_until(lambda: _raw(stack, "/v1/messages", _ONE).status_code == 200, 30, "a free slot")

"""Per-key limits through the real gateway and a real runtime (vLLM CPU
engine, tiny model), with the official `ollama`, `openai` and `anthropic`
clients: requestsPerMinute and tokensPerMinute (charged the engine's own
counts) refuse with 429 and Retry-After in each protocol's shape, and the
Retry-After is honest: a call after that long passes, and the openai SDK
(which waits what Retry-After says) gets through on its own.

The limiter's buckets refill continuously (routing/limits.py): with 12
requests a minute one request comes back every 5 s, so recovery is seen in
seconds, not a whole minute."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import ollama
import openai
import pytest
import yaml

from tests.fixtures.tiers import require_tier
from tests.gateway.test_tenancy_e2e import Stack, sha, start_stack

pytestmark = pytest.mark.engine
RPM, TPM = 12, 600
ONE_TOKEN = {"num_predict": 1, "temperature": 0}
ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "cows"}]
CHAT: list[Any] = [{"role": "user", "content": "cows"}]
MAX_CALLS = 80  # bound on the calls that spend an allowance
E = TypeVar("E", bound=Exception)


def _keys() -> str:
    return yaml.safe_dump({
        "keys": [
            {"id": "rpm", "sha256": sha("sk-rpm"), "tenant": "team-r",
             "limits": {"requestsPerMinute": RPM}},
            {"id": "tpm", "sha256": sha("sk-tpm"), "tenant": "team-t",
             "limits": {"tokensPerMinute": TPM}},
        ],
    })  # fmt: skip


@pytest.fixture(scope="module")
def stack(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tier("engine")
    started = start_stack(tiny_model_dir, tmp_path_factory.mktemp("limits-e2e"), _keys())
    try:
        yield started
    finally:
        started.gateway.stop()
        started.runtime.stop()


class Refused(Exception):
    """A 429 seen by a plain HTTP client (whose headers the ollama client hides)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.text)
        self.response = response


def _until_refused(call: Callable[[], int], refused: type[E]) -> tuple[int, E]:
    """Calls until the limit refuses: (the tokens the passed calls used, the refusal)."""
    used = 0
    for _ in range(MAX_CALLS):
        try:
            used += call()
        except refused as e:
            return used, e
    raise AssertionError(f"no refusal after {MAX_CALLS} calls")


def _uncounted(call: Callable[[], object]) -> Callable[[], int]:
    def run() -> int:
        call()
        return 0

    return run


def _retry_after(status: int, headers: Mapping[str, str]) -> int:
    assert status == 429
    wait = int(headers["retry-after"])
    assert wait > 0
    return wait


def _refusals_in_every_shape(stack: Stack, key: str, prefix: str) -> int:
    """Each protocol's client spends what is left until refused (a bucket that
    refills continuously may let the next call pass right after a refusal):
    the refusal in its shape, starting with `prefix`; the longest Retry-After."""

    def ollama_shape() -> int:
        body = {"model": "tiny", "prompt": "x", "stream": False, "options": ONE_TOKEN}
        r = httpx.post(stack.gateway.url + "/api/generate", json=body, timeout=120,
                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        if r.status_code == 429:
            raise Refused(r)
        r.raise_for_status()
        return 0

    _, oll = _until_refused(ollama_shape, Refused)
    assert oll.response.json()["error"].startswith(prefix)
    oa = openai.OpenAI(base_url=stack.gateway.url + "/v1", api_key=key, max_retries=0)
    _, e1 = _until_refused(
        _uncounted(lambda: oa.chat.completions.create(model="tiny", messages=CHAT, max_tokens=1)),
        openai.RateLimitError,
    )
    assert (e1.code, e1.type) == ("rate_limit_exceeded", "rate_limit_error")
    assert e1.body["message"].startswith(prefix)  # type: ignore[index]
    an = anthropic.Anthropic(base_url=stack.gateway.url, api_key=key, max_retries=0)
    _, e2 = _until_refused(
        _uncounted(lambda: an.messages.create(model="tiny", max_tokens=1, messages=ASK)),
        anthropic.RateLimitError,
    )
    assert e2.body["type"] == "error"  # type: ignore[index]
    assert e2.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert e2.body["error"]["message"].startswith(prefix)  # type: ignore[index]
    return max(
        _retry_after(oll.response.status_code, oll.response.headers),
        _retry_after(e1.status_code, e1.response.headers),
        _retry_after(e2.status_code, e2.response.headers),
    )


def test_requests_per_minute_refuse_in_every_shape_and_recover(stack: Stack) -> None:
    app = ollama.Client(host=stack.gateway.url, headers={"Authorization": "Bearer sk-rpm"})

    def one() -> int:
        app.generate("tiny", "cows", options=ONE_TOKEN)
        return 0

    _, refused = _until_refused(one, ollama.ResponseError)
    prefix = f"rate limit exceeded: key rpm may use {RPM} requests per minute; try again in "
    assert (refused.status_code, refused.error[: len(prefix)]) == (429, prefix)
    wait = _refusals_in_every_shape(stack, "sk-rpm", prefix)
    assert wait <= 60 // RPM  # one request comes back every 5 s: never told to wait longer
    time.sleep(wait)
    assert app.generate("tiny", "cows", options=ONE_TOKEN).done  # honest: it passes now
    # Spent again; the SDK reads Retry-After, waits that long and gets through.
    _until_refused(one, ollama.ResponseError)
    patient = openai.OpenAI(base_url=stack.gateway.url + "/v1", api_key="sk-rpm", max_retries=2)
    for _ in range(5):  # a call that passes at once spends what refilled meanwhile
        reply = patient.chat.completions.with_raw_response.create(
            model="tiny", messages=CHAT, max_tokens=1
        )
        if reply.retries_taken:
            break
    assert reply.retries_taken == 1
    assert reply.parse().choices


def test_tokens_per_minute_charge_the_engines_counts(stack: Stack) -> None:
    """Streamed Anthropic messages spend the allowance: the gateway reads the
    engine's counts from the stream's end; refused only once they ran out."""
    an = anthropic.Anthropic(base_url=stack.gateway.url, api_key="sk-tpm", max_retries=0)

    def streamed() -> int:
        with an.messages.stream(model="tiny", max_tokens=32, messages=ASK) as s:
            usage = s.get_final_message().usage
        return usage.input_tokens + usage.output_tokens

    used, refused = _until_refused(streamed, anthropic.RateLimitError)
    assert used >= TPM  # the counts it was charged, not a guess
    prefix = f"rate limit exceeded: key tpm may use {TPM} tokens per minute; try again in "
    assert refused.body["error"]["message"].startswith(prefix)  # type: ignore[index]
    wait = _refusals_in_every_shape(stack, "sk-tpm", prefix)
    time.sleep(wait)
    oa = openai.OpenAI(base_url=stack.gateway.url + "/v1", api_key="sk-tpm", max_retries=0)
    done = oa.responses.create(model="tiny", input="cows", max_output_tokens=1)
    assert done.status == "completed"

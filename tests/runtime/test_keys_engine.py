"""Keys with identities at the runtime (direct access), end to end with the
official `ollama`, `openai` and `anthropic` clients against the real engine:
scopes, model globs, refusals in each protocol's shape, and one audit record
per call with the engine's own token counts, refusals included."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest

from pasture_runtime.engine import Engine
from tests.runtime.harness import MODEL, Served, serve, tiny_config

pytestmark = pytest.mark.engine


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS = f"""keys:
  - {{id: app, sha256: "{sha("sk-app")}", tenant: team-a, models: ["tiny*"]}}
  - {{id: other, sha256: "{sha("sk-other")}", tenant: team-b, models: ["llama3"]}}
  - {{id: scraper, sha256: "{sha("sk-metrics")}", tenant: ops, scopes: [metrics]}}
  - {{id: gw, sha256: "{sha("sk-gw")}", tenant: platform, scopes: [infer, manage], gateway: true}}
"""
OPTIONS = {"num_predict": 8, "temperature": 0, "seed": 1}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.items.append(json.loads(record.getMessage()))

    def take(self) -> list[dict[str, Any]]:
        out, self.items = self.items, []
        return out


@pytest.fixture
def audit() -> Iterator[Records]:
    handler = Records()
    logging.getLogger("pasture.audit").addHandler(handler)
    yield handler
    logging.getLogger("pasture.audit").removeHandler(handler)


@pytest.fixture
async def served(tiny_model_dir: Path, engine: Engine, tmp_path: Path) -> AsyncIterator[Served]:
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS)
    cfg = tiny_config(tiny_model_dir, api_keys_file=str(keys), metrics_auth=True)
    async with serve(cfg, engine) as s:
        yield s


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_audit_has_the_engines_token_counts(served: Served, audit: Records) -> None:
    app = ollama.AsyncClient(host=served.url, headers=bearer("sk-app"))
    chat = await app.chat(MODEL, [{"role": "user", "content": "hi"}], options=OPTIONS)
    final: Any = None
    async for part in await app.generate("Tiny-Alias", "cows", stream=True, options=OPTIONS):
        final = part
    oa = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-app", max_retries=0)
    done = await oa.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5, temperature=0
    )
    records = audit.take()
    assert [
        (r["endpoint"], r["status"], r["model"], r["key_id"], r["tenant"]) for r in records
    ] == [
        ("/api/chat", 200, MODEL, "app", "team-a"),
        ("/api/generate", 200, "Tiny-Alias", "app", "team-a"),
        ("/v1/chat/completions", 200, MODEL, "app", "team-a"),
    ]
    counts = [(r["prompt_tokens"], r["output_tokens"]) for r in records]
    assert done.usage is not None
    assert counts == [
        (chat.prompt_eval_count, chat.eval_count),
        (final.prompt_eval_count, final.eval_count),
        (done.usage.prompt_tokens, done.usage.completion_tokens),
    ]
    assert all(c[0] and c[0] > 0 for c in counts)
    assert all(r["source"] == "runtime" and r["client"] == "127.0.0.1" for r in records)
    assert "hi" not in json.dumps(records)  # no prompt or output text


async def test_refusals_per_protocol_each_audited(served: Served, audit: Records) -> None:
    other = ollama.AsyncClient(host=served.url, headers=bearer("sk-other"))
    with pytest.raises(ollama.ResponseError) as e:
        await other.chat(MODEL, [{"role": "user", "content": "hi"}])
    assert (e.value.status_code, e.value.error) == (
        403, f"forbidden: this API key may not use model '{MODEL}'",
    )  # fmt: skip
    with pytest.raises(ollama.ResponseError) as e:
        await ollama.AsyncClient(host=served.url, headers=bearer("sk-nope")).list()
    assert e.value.status_code == 401
    oa = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-other", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert denied.value.code == "model_forbidden"
    bad = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.models.list()
    an = anthropic.AsyncAnthropic(base_url=served.url, auth_token="sk-other", max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        await an.messages.create(
            model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.body == {
        "type": "error",
        "error": {
            "type": "permission_error",
            "message": f"forbidden: this API key may not use model '{MODEL}'",
        },
    }
    scraper = ollama.AsyncClient(host=served.url, headers=bearer("sk-metrics"))
    with pytest.raises(ollama.ResponseError) as e:
        await scraper.generate(MODEL, "x")
    assert e.value.error == "forbidden: this API key does not have the 'infer' scope"
    records = audit.take()
    assert [(r["endpoint"], r["status"], r["key_id"]) for r in records] == [
        ("/api/chat", 403, "other"),
        ("/api/tags", 401, None),
        ("/v1/chat/completions", 403, "other"),
        ("/v1/models", 401, None),
        ("/v1/messages", 403, "other"),
        ("/api/generate", 403, "scraper"),
    ]
    assert records[0]["model"] == MODEL


async def test_scopes_for_metrics_and_management(served: Served, audit: Records) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/healthz")).status_code == 200  # probes stay open
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers=bearer("sk-app"))).status_code == 403
        assert (await c.get("/metrics", headers=bearer("sk-metrics"))).status_code == 200
        r = await c.request("DELETE", "/api/delete", json={"model": "x"}, headers=bearer("sk-app"))
        assert (r.status_code, r.json()) == (
            403, {"error": "forbidden: this API key does not have the 'manage' scope"},
        )  # fmt: skip
    assert [r["endpoint"] for r in audit.take()] == ["/api/delete"]  # probes, scrapes: none


async def test_the_gateways_caller_is_trusted_only_on_its_key(
    served: Served, audit: Records
) -> None:
    forwarded = {"x-pasture-key-id": "ci-bot", "x-pasture-tenant": "team-c"}
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as c:
        body = {"model": MODEL, "prompt": "x", "stream": False, "options": OPTIONS}
        r = await c.post("/api/generate", json=body, headers={**bearer("sk-gw"), **forwarded})
        assert r.status_code == 200
        assert audit.take() == []  # the gateway audits what it forwards: one record per call
        r = await c.post("/api/generate", json=body, headers={**bearer("sk-app"), **forwarded})
        assert r.status_code == 200
    [record] = audit.take()
    assert (record["key_id"], record["tenant"], record["via"]) == ("app", "team-a", None)


async def test_anthropics_x_api_key_header(served: Served, audit: Records) -> None:
    """Anthropic's documented header is `x-api-key` (curl examples, other
    clients; this anthropic SDK sends a bearer token): the runtime takes it
    as the gateway does (before, direct access answered 401)."""
    body = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
        ok = await http.post("/v1/messages", json=body, headers={"x-api-key": "sk-app"})
        wrong = await http.post("/v1/messages", json=body, headers={"x-api-key": "sk-nope"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["usage"]["output_tokens"] > 0
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "error"  # Anthropic's shape
    records = audit.take()
    assert [(r["endpoint"], r["status"], r["key_id"]) for r in records] == [
        ("/v1/messages", 200, "app"),
        ("/v1/messages", 401, None),
    ]


async def test_listings_show_only_the_models_a_key_may_use(served: Served) -> None:
    """A key whose globs do not cover the served model sees empty listings and
    a 404 for the model itself, as for a model that does not exist."""
    other = ollama.AsyncClient(host=served.url, headers=bearer("sk-other"))
    assert (await other.list()).models == []
    assert (await other.ps()).models == []
    oa = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-other", max_retries=0)
    assert [m.id async for m in oa.models.list()] == []
    with pytest.raises(openai.NotFoundError):
        await oa.models.retrieve(MODEL)
    app = ollama.AsyncClient(host=served.url, headers=bearer("sk-app"))
    assert MODEL in [m.model for m in (await app.list()).models]
    assert MODEL in [m.model for m in (await app.ps()).models]
    mine = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-app", max_retries=0)
    assert (await mine.models.retrieve(MODEL)).id == MODEL

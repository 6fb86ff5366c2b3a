"""Several Ollama names on one engine: Modelfile-style variants (system,
parameters, template, messages) declared in the runtime config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from tests.runtime.harness import NoEosEngine, Served, serve

pytestmark = pytest.mark.engine

PIRATE_SYSTEM = "You are a pirate. Answer like one."
TERSE_TEMPLATE = (
    "{%- for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '</s>\\n' }}"
    "{%- endfor %}{{ '<|assistant|>\\n' }}"
)
TERSE_MESSAGES = [
    {"role": "user", "content": "ping"},
    {"role": "assistant", "content": "pong"},
]
NAMES = ["tiny:latest", "pirate:latest", "terse:v1", "Tiny-Alias:latest"]


@pytest.fixture(scope="module")
async def variants(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    config = RuntimeConfig.model_validate(
        {
            "engine": {"model": str(tiny_model_dir)},
            "models": [
                {"name": "tiny", "aliases": ["Tiny-Alias"]},
                {
                    "name": "pirate",
                    "system": PIRATE_SYSTEM,
                    "parameters": {"num_predict": 3, "temperature": 0, "stop": ["<|user|>"]},
                },
                {"name": "terse:v1", "template": TERSE_TEMPLATE, "messages": TERSE_MESSAGES},
            ],
            "server": {"host": "127.0.0.1"},
        }
    )
    # Never stopping at EOS makes num_predict the only limit, so eval_count shows it.
    async with serve(config, NoEosEngine(engine.llm)) as s:
        yield s


async def test_every_name_is_listed(variants: Served) -> None:
    c = ollama.AsyncClient(host=variants.url)
    assert sorted(m.model or "" for m in (await c.list()).models) == sorted(NAMES)
    assert sorted(m.model or "" for m in (await c.ps()).models) == sorted(NAMES)
    o = openai.AsyncOpenAI(base_url=variants.url + "/v1", api_key="x", max_retries=0)
    assert sorted(m.id for m in (await o.models.list()).data) == sorted(NAMES)


async def test_show_gives_each_its_own_modelfile(variants: Served) -> None:
    # Raw JSON: the ollama client's ShowResponse has no `system` field.
    async with httpx.AsyncClient(base_url=variants.url, timeout=60) as h:
        base, pirate, terse = [
            (await h.post("/api/show", json={"model": n})).json()
            for n in ("tiny", "pirate", "terse:v1")
        ]
    assert "system" not in base
    assert "parameters" not in base
    assert pirate["system"] == PIRATE_SYSTEM
    assert f'SYSTEM """{PIRATE_SYSTEM}"""' in pirate["modelfile"]
    assert "num_predict" in pirate["parameters"]
    assert "PARAMETER num_predict 3" in pirate["modelfile"]
    assert terse["template"] == TERSE_TEMPLATE != base["template"]
    assert terse["messages"] == TERSE_MESSAGES
    assert "MESSAGE assistant pong" in terse["modelfile"]
    assert "# FROM terse:v1" in terse["modelfile"]


async def test_each_variant_applies_its_own_settings(variants: Served) -> None:
    c = ollama.AsyncClient(host=variants.url)
    eng = variants.engine
    hi = [{"role": "user", "content": "hi"}]
    # The pirate's parameters: num_predict 3 caps the output; a request option wins.
    pirate = await c.chat(model="pirate", messages=hi)
    assert pirate.eval_count == 3
    assert pirate.done_reason == "length"
    more = await c.chat(model="pirate", messages=hi, options={"num_predict": 5})
    assert more.eval_count == 5
    # Its SYSTEM is rendered before the user's message (the exact prompt).
    rendered = eng.render_chat([{"role": "system", "content": PIRATE_SYSTEM}, *hi])
    assert pirate.prompt_eval_count == len(eng.encode(rendered, add_special_tokens=False))
    # terse: its own template and MESSAGEs before the request's.
    terse = await c.chat(model="terse:v1", messages=hi, options={"num_predict": 1})
    own = eng.render_chat([*TERSE_MESSAGES, *hi], template=TERSE_TEMPLATE)
    assert terse.prompt_eval_count == len(eng.encode(own, add_special_tokens=False))
    # The base name has none of that.
    base = await c.chat(model="tiny", messages=hi, options={"num_predict": 1})
    plain = eng.render_chat(hi)
    assert base.prompt_eval_count == len(eng.encode(plain, add_special_tokens=False))
    # Same on the OpenAI side: the variant's parameters are the defaults.
    async with httpx.AsyncClient(base_url=variants.url, timeout=60) as h:
        r = await h.post("/v1/chat/completions", json={"model": "pirate", "messages": hi})
    assert r.json()["usage"]["completion_tokens"] == 3

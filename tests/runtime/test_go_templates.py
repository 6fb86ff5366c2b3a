"""Modelfile TEMPLATEs in Ollama's Go syntax against the real engine: a
model whose TEMPLATE is `{{ .Prompt }}` (the legacy form) or ranges over
`.Messages` answers 200 on /api/chat, /api/generate and the OpenAI side,
with exactly the prompt Ollama would render; a broken one is a 400 naming
the problem; a request's own Go template goes the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from tests.runtime.harness import Served, serve

pytestmark = pytest.mark.engine

PROMPT_ONLY = "{{ .Prompt }}"
LEGACY = (
    "{{ if .System }}<|system|>\n{{ .System }}</s>\n{{ end }}"
    "<|user|>\n{{ .Prompt }}</s>\n<|assistant|>\n"
)
CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
OWN = "[{{ .System }}|{{ range .Messages }}{{ .Content }};{{ end }}]"
ONE = {"num_predict": 1, "temperature": 0}


@pytest.fixture(scope="module")
async def go_models(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    config = RuntimeConfig.model_validate(
        {
            "engine": {"model": str(tiny_model_dir)},
            "models": [
                {"name": "prompt-only", "template": PROMPT_ONLY},
                {"name": "legacy", "template": LEGACY, "system": "Be brief."},
                {"name": "chatml", "template": CHATML},
                {"name": "broken", "template": "{{ if .Prompt }}unclosed"},
            ],
            "server": {"host": "127.0.0.1"},
        }
    )
    async with serve(config, engine) as s:
        yield s


def _tokens(served: Served, text: str) -> int:
    return len(served.engine.encode(text, add_special_tokens=False))


async def test_a_prompt_only_template_answers_with_the_prompt_alone(go_models: Served) -> None:
    async with httpx.AsyncClient(base_url=go_models.url, timeout=120) as c:
        chat = await c.post(
            "/api/chat",
            json={"model": "prompt-only", "stream": False, "options": ONE,
                  "messages": [{"role": "user", "content": "hello there"}]},
        )  # fmt: skip
        gen = await c.post(
            "/api/generate",
            json={"model": "prompt-only", "stream": False, "options": ONE, "prompt": "hello there"},
        )
    assert chat.status_code == 200, chat.text
    assert gen.status_code == 200, gen.text
    assert chat.json()["prompt_eval_count"] == _tokens(go_models, "hello there")
    assert gen.json()["prompt_eval_count"] == _tokens(go_models, "hello there")


async def test_legacy_and_messages_templates_render_as_ollama(go_models: Served) -> None:
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "bye"},
    ]
    async with httpx.AsyncClient(base_url=go_models.url, timeout=120) as c:
        legacy = await c.post(
            "/api/chat", json={"model": "legacy", "stream": False, "options": ONE, "messages": msgs}
        )
        chatml = await c.post(
            "/api/chat", json={"model": "chatml", "stream": False, "options": ONE, "messages": msgs}
        )
        openai = await c.post(
            "/v1/chat/completions", json={"model": "chatml", "max_tokens": 1, "messages": msgs}
        )
    assert legacy.status_code == chatml.status_code == openai.status_code == 200
    # Legacy: one render per turn; the model's SYSTEM in the first; the last cut after .Response.
    want_legacy = (
        "<|system|>\nBe brief.</s>\n<|user|>\nhi</s>\n<|assistant|>\nyo"
        "<|user|>\nbye</s>\n<|assistant|>\n"
    )
    assert legacy.json()["prompt_eval_count"] == _tokens(go_models, want_legacy)
    want_chatml = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
    want_chatml += "<|im_start|>assistant\n"
    assert chatml.json()["prompt_eval_count"] == _tokens(go_models, want_chatml)
    assert openai.json()["usage"]["prompt_tokens"] == _tokens(go_models, want_chatml)


async def test_a_broken_template_and_a_requests_go_template(go_models: Served) -> None:
    async with httpx.AsyncClient(base_url=go_models.url, timeout=120) as c:
        broken = await c.post(
            "/api/chat",
            json={
                "model": "broken",
                "stream": False,
                "messages": [{"role": "user", "content": "x"}],
            },
        )
        shown = await c.post("/api/show", json={"model": "broken"})
        own = await c.post(
            "/api/generate",
            json={"model": "chatml", "stream": False, "options": ONE, "prompt": "q",
                  "system": "S", "template": OWN},
        )  # fmt: skip
        unsupported = await c.post(
            "/api/generate",
            json={"model": "chatml", "stream": False, "prompt": "q",
                  "template": '{{ template "x" }}{{ .Prompt }}'},
        )  # fmt: skip
        empty = await c.post(
            "/api/generate",
            json={"model": "chatml", "stream": False, "prompt": "q",
                  "template": "{{ range .Messages }}{{ end }}"},
        )  # fmt: skip
    assert broken.status_code == 400
    assert "unexpected EOF" in broken.json()["error"]
    assert shown.status_code == 200
    assert shown.json()["template"] == "{{ if .Prompt }}unclosed"
    assert own.status_code == 200, own.text
    assert own.json()["prompt_eval_count"] == _tokens(go_models, "[S|S;q;]")
    assert unsupported.status_code == 400
    assert "{{template}} is not supported" in unsupported.json()["error"]
    assert empty.status_code == 400  # an empty prompt: the engine's own 400

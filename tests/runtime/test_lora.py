"""LoRA adapters by name: a `models[]` entry with `adapter: {path}` is its own
Ollama name over the shared engine (started with LoRA enabled, see
tests/fixtures/engine.py), with its own defaults, and really runs the adapter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from pasture_runtime.cli import main as cli_main
from pasture_runtime.config import RuntimeConfig, adapter_problems
from pasture_runtime.engine import Engine
from tests.runtime.adapter import RANK, write_tiny_adapter
from tests.runtime.harness import NoEosEngine, Served, serve

PROMPT = "<|user|>\nWhy is the sky blue?</s>\n<|assistant|>\n"


def _config(model: Path, adapter: Path | str, **engine: Any) -> RuntimeConfig:
    return RuntimeConfig.model_validate(
        {
            "engine": {"model": str(model), **engine},
            "models": [
                {"name": "tiny"},
                {
                    "name": "tiny-lora:r8",
                    "adapter": {"path": str(adapter)},
                    "parameters": {"temperature": 0, "num_predict": 3},
                },
            ],
            "server": {"host": "127.0.0.1"},
        }
    )


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    return write_tiny_adapter(tmp_path_factory.mktemp("tiny-lora"), tiny_model_dir)


# ---- config (no engine)


def test_an_adapter_turns_lora_on(tmp_path: Path) -> None:
    assert _config(tmp_path, tmp_path).engine.enable_lora is True
    plain = RuntimeConfig.model_validate({"engine": {"model": "m"}, "models": [{"name": "m"}]})
    assert plain.engine.enable_lora is False


def test_the_test_adapter_is_deterministic(tmp_path: Path, tiny_model_dir: Path) -> None:
    a = write_tiny_adapter(tmp_path / "a", tiny_model_dir)
    b = write_tiny_adapter(tmp_path / "b", tiny_model_dir)
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert json.loads((a / "adapter_config.json").read_text())["r"] == RANK


def test_adapter_problems(tmp_path: Path, tiny_model_dir: Path) -> None:
    good = write_tiny_adapter(tmp_path / "good", tiny_model_dir)
    assert adapter_problems(_config(tiny_model_dir, good)) == []
    # A repo id is not checked here: vLLM fetches it.
    assert adapter_problems(_config(tiny_model_dir, "org/some-lora")) == []
    (missing,) = adapter_problems(_config(tiny_model_dir, tmp_path / "nope"))
    assert "tiny-lora:r8: adapter directory" in missing
    assert "does not exist" in missing
    (rank,) = adapter_problems(_config(tiny_model_dir, good, max_lora_rank=4))
    assert rank == "tiny-lora:r8: adapter rank 8 is over engine.max_lora_rank 4"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text('{"peft_type": "PREFIX_TUNING"}')
    (not_lora,) = adapter_problems(_config(tiny_model_dir, bad))
    assert "is not a LoRA adapter" in not_lora
    (pooling,) = adapter_problems(_config(tiny_model_dir, good, runner="pooling"))
    assert pooling == "LoRA adapters need engine.runner: generate"


def test_serve_refuses_a_bad_adapter_at_startup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "runtime.yaml"
    config.write_text(
        json.dumps(
            {
                "engine": {"model": str(tmp_path)},
                "models": [{"name": "x", "adapter": {"path": str(tmp_path / "gone")}}],
            }
        )
    )
    assert cli_main(["serve", "--config", str(config)]) == 2
    assert "x: adapter directory" in capsys.readouterr().err


# ---- served over the shared engine


@pytest.fixture(scope="module")
async def lora(tiny_model_dir: Path, adapter_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    # Never stopping at EOS makes num_predict the only limit, so eval_count shows it.
    async with serve(_config(tiny_model_dir, adapter_dir), NoEosEngine(engine.llm)) as s:
        yield s


@pytest.mark.engine
async def test_adapter_name_is_listed_and_shown(lora: Served, adapter_dir: Path) -> None:
    names = ["tiny-lora:r8", "tiny:latest"]
    c = ollama.AsyncClient(host=lora.url)
    assert sorted(m.model or "" for m in (await c.list()).models) == names
    o = openai.AsyncOpenAI(base_url=lora.url + "/v1", api_key="x", max_retries=0)
    assert sorted(m.id for m in (await o.models.list()).data) == names
    assert (await o.models.retrieve("tiny-lora:r8")).id == "tiny-lora:r8"
    shown = await c.show("tiny-lora:r8")
    assert f"ADAPTER {adapter_dir}" in (shown.modelfile or "")
    assert "ADAPTER" not in ((await c.show("tiny")).modelfile or "")


@pytest.mark.engine
async def test_adapter_changes_the_output(lora: Served) -> None:
    async with httpx.AsyncClient(base_url=lora.url, timeout=120) as h:

        async def tokens(model: str) -> list[int]:
            body = {
                "model": model,
                "prompt": PROMPT,
                "raw": True,
                "stream": False,
                "options": {"temperature": 0, "num_predict": 8},
            }
            r = await h.post("/api/generate", json=body)
            assert r.status_code == 200, r.text
            ctx: list[int] = r.json()["context"]
            return ctx

        base, adapted = await tokens("tiny"), await tokens("tiny-lora:r8")
        prompt_len = len(lora.engine.encode(PROMPT, add_special_tokens=False))
        assert base[:prompt_len] == adapted[:prompt_len]  # same prompt tokens
        assert base[prompt_len:] != adapted[prompt_len:]  # a different model wrote the rest
        # Greedy and deterministic: the same again, both ways.
        assert await tokens("tiny-lora:r8") == adapted
        assert await tokens("tiny") == base


@pytest.mark.engine
async def test_adapter_has_its_own_defaults_on_both_apis(lora: Served) -> None:
    hi = [{"role": "user", "content": "hi"}]
    c = ollama.AsyncClient(host=lora.url)
    out = await c.chat(model="tiny-lora:r8", messages=hi)
    assert out.eval_count == 3  # its num_predict
    assert out.done_reason == "length"
    assert (
        await c.chat(model="tiny-lora:r8", messages=hi, options={"num_predict": 5})
    ).eval_count == 5
    o = openai.AsyncOpenAI(base_url=lora.url + "/v1", api_key="x", max_retries=0)
    chat = await o.chat.completions.create(model="tiny-lora:r8", messages=hi)  # type: ignore[arg-type]
    assert chat.usage is not None
    assert chat.usage.completion_tokens == 3
    # Its temperature 0 default: the OpenAI and Ollama paths give the same text.
    assert chat.choices[0].message.content == out.message.content

"""The tiny model is real: vLLM's CPU engine loads it and generates from it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.fixtures.model import build_tiny_model


def _digest(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_tiny_model_is_deterministic(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again")
    assert _digest(again) == _digest(tiny_model_dir)


def test_tokenizer_has_chat_template(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    text = tok.apply_chat_template(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "<|system|>\nbe brief</s>\n<|user|>\nhi</s>\n<|assistant|>\n"
    assert tok.eos_token == "</s>"


async def test_engine_generates_eight_tokens(vllm_engine: Any) -> None:
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=8, temperature=0.0, ignore_eos=True)
    outputs = []
    for rid in ("a", "b"):
        final = None
        async for out in vllm_engine.generate({"prompt_token_ids": [1, 10, 20, 30]}, params, rid):
            final = out
        assert final is not None
        assert final.finished
        outputs.append(list(final.outputs[0].token_ids))
    assert len(outputs[0]) == 8
    assert outputs[0] == outputs[1]  # greedy decoding is deterministic

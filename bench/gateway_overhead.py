"""Gateway overhead: the same streaming load through `pasture-gateway` and
directly to the runtime, in one run.

    .venv/bin/python bench/gateway_overhead.py                 # concurrency 1, 8, 32; 3 reps

A script, not a timed test. One `pasture-runtime serve` (tiny model, vLLM CPU
engine) listens on a loopback "pod" address (127.0.0.50:11434); one
`pasture-gateway` routes to it from a fixed table (--objects-file, no cluster).
An aiohttp load generator keeps C streaming /api/chat requests open (answers of
32-96 tokens, a seeded draw per request, the same on both paths); per target
and level: output chunks/s (NDJSON chunks: the tiny model's tokens come about two
to a chunk) and TTFT p50/p99
(request sent -> first chunk). Targets alternate within every repetition
(direct, gateway, gateway, direct, ...) so machine noise hits both; the table
gives medians with the min-max spread, then gateway/direct ratios, and the
gateway process's own CPU time per relayed chunk (from /proc).

Cores: in a cluster the gateway runs in its own pod, never on the runtime's
CPUs. So by default the runtime (API server, engine core, worker) runs on
core 0 and the gateway and the load generator on the others; the runtime has
the same CPU on both paths and the ratio measures what the hop costs the
requests. `--shared-cores` lets everything share every core (on 2 cores the
gateway's CPU then comes out of the engine's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
POD_IP = "127.0.0.50"
MESSAGES = [{"role": "user", "content": "Cows graze in the pasture."}]
# Answer lengths drawn per request (seeded: the same sequence on both paths), so
# the streams do not run in lock step: identical requests end on the same engine
# step and the next ones arrive together, which makes TTFT a matter of where a
# burst lands in the engine's step cycle more than of what the path adds.
LENGTHS = (32, 96)


def _body(rng: random.Random) -> dict[str, object]:
    options = {"num_predict": rng.randint(*LENGTHS), "seed": 0, "temperature": 0}
    return {"model": "tiny", "messages": MESSAGES, "options": options}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_ready(url: str, within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
    raise RuntimeError(f"{url} not ready after {within}s")


def _objects() -> str:
    meta = {"namespace": "bench"}
    docs = [
        {"kind": "Model", "metadata": {**meta, "name": "tiny"}, "spec": {"servedName": "tiny"}},
        {"kind": "ModelDeployment", "metadata": {**meta, "name": "tiny"},
         "spec": {"modelRef": {"name": "tiny"}, "replicas": 1},
         "status": {"servedNames": ["tiny:latest"]}},
        {"kind": "Pod", "metadata": {**meta, "name": "tiny-0",
                                     "labels": {"pasture.dev/deployment": "tiny"}},
         "status": {"phase": "Running", "podIP": POD_IP,
                    "conditions": [{"type": "Ready", "status": "True"}]}},
    ]  # fmt: skip
    return yaml.safe_dump_all(docs)


async def _one(
    session: aiohttp.ClientSession, url: str, body: dict[str, object], ttfts: list[float]
) -> int:
    sent = time.monotonic()
    chunks = 0
    async with session.post(url + "/api/chat", json=body) as r:
        async for line in r.content:
            if not line.strip():
                continue
            if chunks == 0:
                ttfts.append(time.monotonic() - sent)
            chunks += 1
            if json.loads(line).get("done"):
                break
    return chunks


async def _level(url: str, concurrency: int, seconds: float) -> tuple[float, float, float, int]:
    ttfts: list[float] = []
    total = 0
    stop = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker(rng: random.Random) -> None:
            nonlocal total
            while time.monotonic() < stop:
                # Not `total += await ...`: that reads `total` before the await and
                # stores after it, losing the other workers' counts meanwhile.
                chunks = await _one(session, url, _body(rng), ttfts)
                total += chunks

        started = time.monotonic()
        await asyncio.gather(*(worker(random.Random(i)) for i in range(concurrency)))
        wall = time.monotonic() - started
    ttfts.sort()
    p99 = ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))]
    return total / wall, statistics.median(ttfts) * 1000, p99 * 1000, total


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def on_cores(cores: list[int]) -> Callable[[], None]:
    """A Popen preexec_fn: the child (and its children) run on `cores` only."""
    return lambda: os.sched_setaffinity(0, cores)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(args: argparse.Namespace, urls: dict[str, str], gateway_pid: int) -> None:
    print("| concurrency | target | chunks/s | TTFT p50 ms | TTFT p99 ms | gateway CPU us/chunk |")
    print("| --- | --- | --- | --- | --- | --- |")
    for c in args.concurrency:
        res: dict[str, list[tuple[float, float, float, int]]] = {k: [] for k in urls}
        cpu: list[float] = []  # the gateway process's CPU time per relayed chunk
        await _level(urls["direct"], c, 3)  # warm-up
        await _level(urls["gateway"], c, 3)
        for rep in range(args.reps):
            order = ["direct", "gateway"] if rep % 2 == 0 else ["gateway", "direct"]
            for target in order:
                before = _cpu_seconds(gateway_pid)
                res[target].append(await _level(urls[target], c, args.seconds))
                if target == "gateway":
                    cpu.append((_cpu_seconds(gateway_pid) - before) / res[target][-1][3] * 1e6)
        for target in urls:
            cols = [[r[i] for r in res[target]] for i in range(3)]
            own = _fmt(cpu) if target == "gateway" else ""
            print(
                f"| {c} | {target} | {_fmt(cols[0])} | {_fmt(cols[1])} | {_fmt(cols[2])} | {own} |"
            )
        ratio = statistics.median(r[0] for r in res["gateway"]) / statistics.median(
            r[0] for r in res["direct"]
        )
        added = statistics.median(r[1] for r in res["gateway"]) - statistics.median(
            r[1] for r in res["direct"]
        )
        print(f"| {c} | gateway/direct | x{ratio:.3f} | {added:+.2f} ms | | |")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", help="model directory (default: build the tiny test model)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument(
        "--shared-cores",
        action="store_true",
        help="let every process run on every core (default: the runtime on core 0, the gateway"
        " and the load generator on the others, as a cluster runs the gateway in its own pod)",
    )
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    model = args.model
    if not model:
        model = str(tmp / "tiny")
        subprocess.run([sys.executable, str(ROOT / "hack" / "tiny_model.py"), model], check=True)
    objects = tmp / "objects.yaml"
    objects.write_text(_objects())
    port = _free_port()
    bin_dir = ROOT / ".venv" / "bin"
    cores = sorted(os.sched_getaffinity(0))
    pinned = not args.shared_cores and len(cores) >= 2
    runtime_env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    if pinned:  # the engine's threads on the runtime's core only
        runtime_env["VLLM_CPU_OMP_THREADS_BIND"] = str(cores[0])
    procs = [
        subprocess.Popen(
            [str(bin_dir / "pasture-runtime"), "serve", "--model", model, "--name", "tiny",
             "--host", POD_IP, "--port", "11434", "--max-model-len", "2048",
             "--enforce-eager", "true", "--log-level", "warning"],
            env=runtime_env,
            stdout=(tmp / "runtime.out").open("wb"),  # audit records: a container's log file
            preexec_fn=on_cores(cores[:1]) if pinned else None,
        ),
        subprocess.Popen(
            [str(bin_dir / "pasture-gateway"), "--host", "127.0.0.1", "--port", str(port),
             "--objects-file", str(objects), "--log-level", "warning"],
            stdout=(tmp / "gateway.out").open("wb"),
            preexec_fn=on_cores(cores[1:]) if pinned else None,
        ),
    ]  # fmt: skip
    if pinned:  # the load generator: a client elsewhere, never on the runtime's core
        os.sched_setaffinity(0, cores[1:])
    where = f"runtime on {cores[:1]}, gateway and load on {cores[1:]}" if pinned else "shared"
    print(f"cores: {where}")
    urls = {"direct": f"http://{POD_IP}:11434", "gateway": f"http://127.0.0.1:{port}"}
    try:
        asyncio.run(_wait_ready(urls["direct"] + "/readyz", 600))
        asyncio.run(_wait_ready(urls["gateway"] + "/readyz", 60))
        asyncio.run(_run(args, urls, procs[1].pid))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()

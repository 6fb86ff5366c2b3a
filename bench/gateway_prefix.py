"""Prefix affinity: vLLM's prefix-cache hit rate and TTFT per replica choice.

    .venv/bin/python bench/gateway_prefix.py                   # 7 groups x 8 requests, 3 rounds
    .venv/bin/python bench/gateway_prefix.py --kv-blocks 64    # a cache too small for every prefix

A script, not a timed test. Two `pasture-runtime serve` replicas (tiny model,
vLLM CPU engine, `enable_prefix_caching: true`) listen on loopback "pod"
addresses; two `pasture-gateway` processes route to both from fixed tables
(--objects-file), one with `spec.routing.strategy: leastLoad`, one with
`prefixHash`. The workload: G groups of N streaming /api/chat requests; a group
shares one long system prompt (~1,200 tokens of the tiny model: about ten
128-token KV blocks), each request adds its own user message. The requests of
all groups are interleaved in a seeded random order (within a group in order)
and sent by C workers. Strategies:

- `roundRobin`: requests alternated over the two replicas (a plain Service);
- `leastLoad`, `prefixHash`: through the gateway;
- `single`: every request to one replica (the reference).

Hit rate = vLLM's own counters (`vllm:prefix_cache_hits_total` /
`vllm:prefix_cache_queries_total`, prompt tokens, summed over both replicas),
read before and after each run. Every (round, strategy) run uses its own salt
at the head of every system prompt, so no run finds another run's prefixes in
the cache (block hashes chain from the first token): engines are not restarted
between strategies, the cache is simply never warm for a new run. Strategies
rotate their order every round; the table gives medians with the min-max spread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.gateway_overhead import _free_port, _wait_ready  # noqa: E402

PODS = ("127.0.0.61", "127.0.0.62")
STRATEGIES = ("roundRobin", "leastLoad", "prefixHash", "single")
COUNTER = re.compile(r"^vllm:prefix_cache_(hits|queries)_total(?:\{[^}]*\})? ([0-9.e+]+)$")
SENTENCE = (
    "Rule {i}: the herd of group {g} grazes the {side} pasture at dawn and rests by the river."
)


def _objects(strategy: str) -> str:
    meta = {"namespace": "bench"}
    docs: list[dict[str, Any]] = [
        {"kind": "Model", "metadata": {**meta, "name": "tiny"}, "spec": {"servedName": "tiny"}},
        {"kind": "ModelDeployment", "metadata": {**meta, "name": "tiny"},
         "spec": {"modelRef": {"name": "tiny"}, "replicas": 2,
                  "routing": {"strategy": strategy}},
         "status": {"servedNames": ["tiny:latest"]}},
    ]  # fmt: skip
    for i, ip in enumerate(PODS):
        docs.append(
            {"kind": "Pod", "metadata": {**meta, "name": f"tiny-{i}",
                                         "labels": {"pasture.dev/deployment": "tiny"}},
             "status": {"phase": "Running", "podIP": ip,
                        "conditions": [{"type": "Ready", "status": "True"}]}}
        )  # fmt: skip
    return yaml.safe_dump_all(docs)


def _runtime_config(model: str, ip: str, kv_blocks: int | None) -> str:
    extra: dict[str, Any] = {"enable_prefix_caching": True}
    if kv_blocks:
        extra["num_gpu_blocks_override"] = kv_blocks
    cfg = {
        "engine": {"model": model, "max_model_len": 2048, "enforce_eager": True,
                   "extra_args": extra},
        "models": [{"name": "tiny"}],
        "server": {"host": ip, "port": 11434},
    }  # fmt: skip
    return yaml.safe_dump(cfg)


def workload(
    salt: str, groups: int, per_group: int, system_chars: int, seed: int
) -> list[dict[str, Any]]:
    """Chat bodies: groups interleaved in a seeded random order, each group in order."""
    systems = []
    for g in range(groups):
        text, i = f"[{salt} group {g}] ", 0
        while len(text) < system_chars:
            text += SENTENCE.format(i=i, g=g, side=("north", "south")[i % 2]) + " "
            i += 1
        systems.append(text[:system_chars])
    order = [g for g in range(groups) for _ in range(per_group)]
    random.Random(seed).shuffle(order)
    seen = [0] * groups
    bodies = []
    for g in order:
        question = f"Question {seen[g]} of group {g}: which way do the cows walk?"
        seen[g] += 1
        bodies.append(
            {"model": "tiny", "stream": True,
             "messages": [{"role": "system", "content": systems[g]},
                          {"role": "user", "content": question}],
             "options": {"num_predict": 8, "seed": 0, "temperature": 0}}
        )  # fmt: skip
    return bodies


async def _counters(session: aiohttp.ClientSession) -> list[tuple[float, float]]:
    """(hits, queries) per replica, from its /metrics (vLLM's series)."""
    out = []
    for ip in PODS:
        async with session.get(f"http://{ip}:11434/metrics") as r:
            text = await r.text()
        found = {"hits": 0.0, "queries": 0.0}
        for line in text.splitlines():
            m = COUNTER.match(line)
            if m:
                found[m.group(1)] += float(m.group(2))
        out.append((found["hits"], found["queries"]))
    return out


async def _one(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> float:
    sent = time.monotonic()
    ttft = -1.0
    async with session.post(url + "/api/chat", json=body) as r:
        if r.status != 200:
            raise RuntimeError(f"{url}: {r.status} {await r.text()}")
        async for line in r.content:
            if not line.strip():
                continue
            if ttft < 0:
                ttft = time.monotonic() - sent
            if json.loads(line).get("done"):
                break
    return ttft


def _router(strategy: str, gateways: dict[str, str]) -> Callable[[int], str]:
    direct = [f"http://{ip}:11434" for ip in PODS]
    if strategy == "roundRobin":
        return lambda i: direct[i % 2]
    if strategy == "single":
        return lambda i: direct[0]
    return lambda i: gateways[strategy]


async def run_once(
    bodies: list[dict[str, Any]], target: Callable[[int], str], concurrency: int
) -> dict[str, Any]:
    """Send the bodies in order from C workers; hit rate, TTFT and the split over replicas."""
    ttfts: list[float] = []
    queue = list(enumerate(bodies))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        before = await _counters(session)

        async def worker() -> None:
            while queue:
                i, body = queue.pop(0)
                ttfts.append(await _one(session, target(i), body))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await asyncio.sleep(0.5)  # the engines' stats loggers publish after the last step
        after = await _counters(session)
    hits = [a[0] - b[0] for a, b in zip(after, before, strict=True)]
    queries = [a[1] - b[1] for a, b in zip(after, before, strict=True)]
    ttfts.sort()
    return {
        "hit_rate": sum(hits) / max(sum(queries), 1.0),
        "p50": statistics.median(ttfts) * 1000,
        "p90": ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.9))] * 1000,
        "share_a": queries[0] / max(sum(queries), 1.0),
    }


def _fmt(values: list[float], digits: int = 1) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    single = statistics.median(r["hit_rate"] for r in results["single"])
    print(
        "| strategy | prefix-cache hit rate | x single | TTFT p50 ms | TTFT p90 ms"
        " | replica A share |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for strategy, runs in results.items():
        rates = [r["hit_rate"] for r in runs]
        ratio = [r / single if single else 0.0 for r in rates]
        print(
            f"| {strategy} | {_fmt(rates, 3)} | {_fmt(ratio, 2)} | {_fmt([r['p50'] for r in runs])}"
            f" | {_fmt([r['p90'] for r in runs])} | {_fmt([r['share_a'] for r in runs], 2)} |"
        )


async def _bench(args: argparse.Namespace, gateways: dict[str, str]) -> None:
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in STRATEGIES}
    warm = workload("warm-up", 2, 2, args.system_chars, 0)
    await run_once(warm, _router("roundRobin", gateways), 2)
    for rnd in range(args.rounds):
        order = STRATEGIES[rnd % 4 :] + STRATEGIES[: rnd % 4]
        for strategy in order:
            bodies = workload(f"r{rnd}-{strategy}", args.groups, args.per_group,
                              args.system_chars, seed=rnd)  # fmt: skip
            res = await run_once(bodies, _router(strategy, gateways), args.concurrency)
            results[strategy].append(res)
            print(f"round {rnd} {strategy}: {json.dumps(res)}", file=sys.stderr)
    report(results)


def _start(
    args: argparse.Namespace, tmp: Path
) -> tuple[list[subprocess.Popen[bytes]], dict[str, str]]:
    model = args.model
    if not model:
        model = str(tmp / "tiny")
        subprocess.run([sys.executable, str(ROOT / "hack" / "tiny_model.py"), model], check=True)
    bin_dir = ROOT / ".venv" / "bin"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    procs, gateways = [], {}
    for core, ip in enumerate(PODS):
        # One core each (vLLM's auto binding put both engines on core 0 here).
        env["VLLM_CPU_OMP_THREADS_BIND"] = str(core % (os.cpu_count() or 1))
        cfg = tmp / f"runtime-{ip}.yaml"
        cfg.write_text(_runtime_config(model, ip, args.kv_blocks))
        procs.append(subprocess.Popen(
            [str(bin_dir / "pasture-runtime"), "serve", "--config", str(cfg),
             "--log-level", "warning"],
            env=dict(env), stdout=(tmp / f"runtime-{ip}.log").open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
    for strategy in ("leastLoad", "prefixHash"):
        objects = tmp / f"objects-{strategy}.yaml"
        objects.write_text(_objects(strategy))
        port = _free_port()
        procs.append(subprocess.Popen(
            [str(bin_dir / "pasture-gateway"), "--host", "127.0.0.1", "--port", str(port),
             "--objects-file", str(objects), "--log-level", "warning"],
            stdout=(tmp / f"gateway-{strategy}.log").open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        gateways[strategy] = f"http://127.0.0.1:{port}"
    return procs, gateways


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", help="model directory (default: build the tiny test model)")
    p.add_argument(
        "--groups", type=int, default=7, help="odd, so plain alternation cannot pin groups"
    )
    p.add_argument("--per-group", type=int, default=8)
    p.add_argument("--system-chars", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kv-blocks", type=int, help="KV cache blocks per replica (default: 1 GiB)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gw-prefix-"))
    print(f"logs in {tmp}", file=sys.stderr)
    procs, gateways = _start(args, tmp)
    try:
        for ip in PODS:
            asyncio.run(_wait_ready(f"http://{ip}:11434/readyz", 900))
        for url in gateways.values():
            asyncio.run(_wait_ready(url + "/readyz", 60))
        asyncio.run(_bench(args, gateways))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()

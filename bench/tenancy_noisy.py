"""Noisy neighbour: tenant A keeps 10x tenant B's load on a saturated model;
B's time to first token (p50/p90) against B alone, through gateways with
fair queueing on, with the fair queue alone and with it off, in one run.

    .venv/bin/python bench/tenancy_noisy.py                   # 3 rounds of 12 s per phase

A script, not a timed test. The runtime is a stub that behaves like one under
load (no engine: 2 shared cores cannot saturate a real one steadily): an
admission of --slots running requests, FIFO beyond (as the runtime's own
Admission), each admitted request taking --prefill-ms to its first token then
--tokens tokens at --token-ms each. The ModelDeployment says
`spec.server.maxRunning: --slots`, so the gateway knows the model's slots.
Load is open-loop, Poisson arrivals: B at --rate-b requests/s, A at --noisy
times that. Three `pasture-gateway` processes route to the stub: fair
queueing on (the queue and the share of the slots), the fair queue alone
(the share of the slots patched out: as before it) and off (audit records
off: the CPU is left to what is measured); a key file gives "A-key" and
"B-key" to tenants A and B. Phases alternate within every round (solo, on,
queue only, off; then reversed) so machine noise hits all of them; the
table gives medians of the rounds' values with min-max, and the answers per
second over a phase (the model's throughput when saturated).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUB_IP = "127.0.0.52"
sys.path.insert(0, str(ROOT))
from bench.gateway_capacity import read_request  # noqa: E402
from bench.gateway_overhead import _free_port, _wait_ready, on_cores  # noqa: E402

SHARED_CORES = (
    "let every process run on every core (default: the stub runtime and the load generator on"
    " core 0, the gateways on the others, so neither side's CPU is taken from the other's)"
)


class Runtime:
    """The stub runtime: FIFO admission of `slots`, engine-like pacing."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.free = asyncio.Semaphore(args.slots)  # asyncio's Semaphore wakes FIFO

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_request(reader)
                async with self.free:
                    await self._stream(writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        a = self.args
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
        await asyncio.sleep(a.prefill_ms / 1000)
        for i in range(a.tokens):
            done = i == a.tokens - 1
            doc = {"message": {"content": "x"}, "done": done}
            if done:
                doc.update(prompt_eval_count=a.prompt_tokens, eval_count=a.tokens)
            line = json.dumps(doc).encode() + b"\n"
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
            if not done:
                await asyncio.sleep(a.token_ms / 1000)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _one(session: aiohttp.ClientSession, url: str, key: str) -> float | None:
    body = {"model": "stub", "messages": [{"role": "user", "content": "moo"}]}
    sent = time.monotonic()
    first = None
    async with session.post(
        url + "/api/chat", json=body, headers={"authorization": f"Bearer {key}"}
    ) as r:
        if r.status != 200:
            await r.read()
            return None
        async for line in r.content:
            if first is None and line.strip():
                first = time.monotonic() - sent
    return first


async def _phase(
    url: str, rate_b: float, noisy: float, seconds: float
) -> tuple[list[list[float]], float]:
    """Open loop, Poisson arrivals: B at `rate_b` per second, A at `noisy` x that,
    for `seconds`; then waits for every answer. Each tenant's TTFTs (refusals
    are left out: none at these rates), and the seconds until the last answer
    (the model's throughput: it is saturated, so a slot left idle shows here)."""
    rng = random.Random(7)
    started = time.monotonic()
    ttfts: list[list[float]] = [[], []]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(tenant: int) -> None:
            ttft = await _one(session, url, "AB"[tenant] + "-key")
            if ttft is not None:
                ttfts[tenant].append(ttft)

        async def arrivals(tenant: int, rate: float) -> None:
            if rate <= 0:
                return
            stop, tasks = time.monotonic() + seconds, []
            while time.monotonic() < stop:
                tasks.append(asyncio.create_task(one(tenant)))
                await asyncio.sleep(rng.expovariate(rate))
            await asyncio.gather(*tasks)

        await asyncio.gather(arrivals(1, rate_b), arrivals(0, rate_b * noisy))
    return ttfts, time.monotonic() - started


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] * 1000 if s else float("nan")


def _fmt(values: list[float]) -> str:
    if any(v != v for v in values):  # nan: a tenant with no requests in that phase
        return "-"
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


async def _run(args: argparse.Namespace, urls: dict[str, str]) -> None:
    stub = Runtime(args)
    server = await asyncio.start_server(stub.serve, STUB_IP, 11434, backlog=1024)
    for url in urls.values():
        await _wait_ready(url + "/readyz", 60)
    phases = {"B alone": ("on", 0), "A 10x + B, fair on": ("on", args.noisy),
              "A 10x + B, fair queue only": ("queue", args.noisy),
              "A 10x + B, fair off": ("off", args.noisy)}  # fmt: skip
    rows: dict[str, list[tuple[float, ...]]] = {p: [] for p in phases}
    for url in urls.values():
        await _phase(url, args.rate_b, 0, 2)  # warm-up
    for rnd in range(args.rounds):
        order = list(phases) if rnd % 2 == 0 else list(reversed(phases))
        for name in order:
            gw, noisy = phases[name]
            (a, b), took = await _phase(urls[gw], args.rate_b, noisy, args.seconds)
            rows[name].append((_pct(b, 0.5), _pct(b, 0.9), _pct(a, 0.5), len(b),
                               (len(a) + len(b)) / took))  # fmt: skip
    server.close()
    print("| phase | B TTFT p50 ms | B TTFT p90 ms | A TTFT p50 ms | B requests | answers/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, rs in rows.items():
        cols = [[float(r[i]) for r in rs] for i in range(5)]
        print(f"| {name} | {' | '.join(_fmt(c) for c in cols)} |")
    solo = statistics.median(r[1] for r in rows["B alone"])
    for name in list(phases)[1:]:
        p90 = statistics.median(r[1] for r in rows[name])
        print(f"| {name}: B p90 / solo | x{p90 / solo:.2f} | | | | |")


def _objects(slots: int) -> str:
    meta = {"namespace": "bench"}
    docs = [
        {"kind": "ModelDeployment", "metadata": {**meta, "name": "stub"},
         "spec": {"modelRef": {"name": "stub"}, "replicas": 1,
                  "server": {"maxRunning": slots}},
         "status": {"servedNames": ["stub"]}},
        {"kind": "Pod", "metadata": {**meta, "name": "stub-0",
                                     "labels": {"pasture.dev/deployment": "stub"}},
         "status": {"phase": "Running", "podIP": STUB_IP,
                    "conditions": [{"type": "Ready", "status": "True"}]}},
    ]  # fmt: skip
    return yaml.safe_dump_all(docs)


def key_file(folder: Path, limits: bool = False) -> Path:
    """Keys "A-key" and "B-key" of tenants A and B; with `limits`, every key
    and tenant under rpm and tpm limits it never reaches (their cost only)."""
    big = {"requestsPerMinute": 10**9, "tokensPerMinute": 10**12}
    keys = [
        {"id": f"key-{t}", "sha256": hashlib.sha256(f"{t}-key".encode()).hexdigest(),
         "tenant": t, "scopes": ["infer"], **({"limits": big} if limits else {})}
        for t in "AB"
    ]  # fmt: skip
    doc = {"keys": keys, **({"tenants": {"A": big, "B": big}} if limits else {})}
    path = folder / "keys.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def gateway_child(argv: list[str]) -> None:
    from pasture_gateway import cli
    from pasture_gateway.usecases import admission

    if os.environ.get("BENCH_QUEUE_ONLY"):  # the fair queue without the slot share (before it)

        def free_slot(self: admission.ModelSlots, tenant: str, now: float) -> bool:
            return self.running < self.spec.capacity

        admission.ModelSlots.may_start = free_slot  # type: ignore[method-assign]
    cli.main(argv)


def main() -> None:
    if sys.argv[1:2] == ["--gateway-child"]:
        gateway_child(sys.argv[2:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--slots", type=int, default=8, help="the model's running slots")
    p.add_argument("--rate-b", type=float, default=3.5, help="B's requests per second")
    p.add_argument("--noisy", type=float, default=10, help="A's rate, in multiples of B's")
    p.add_argument("--prefill-ms", type=float, default=60)
    p.add_argument("--token-ms", type=float, default=10)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--prompt-tokens", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=12)
    p.add_argument("--shared-cores", action="store_true", help=SHARED_CORES)
    args = p.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    pinned = not args.shared_cores and len(cores) >= 2
    folder = Path(tempfile.mkdtemp(prefix="noisy-"))
    objects, keys = folder / "objects.yaml", key_file(folder)
    objects.write_text(_objects(args.slots))
    ports = {"on": _free_port(), "queue": _free_port(), "off": _free_port()}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--gateway-child", "--host", "127.0.0.1",
             "--port", str(port), "--objects-file", str(objects), "--log-level", "warning",
             "--api-keys-file", str(keys), "--no-audit", f"--fair-queueing={mode != 'off'}"],
            env={**os.environ, **({"BENCH_QUEUE_ONLY": "1"} if mode == "queue" else {})},
            preexec_fn=on_cores(cores[1:]) if pinned else None,
        )
        for mode, port in ports.items()
    ]  # fmt: skip
    if pinned:  # the stub runtime and the load generator (this process) on a core of their own
        os.sched_setaffinity(0, cores[:1])
    print(
        f"cores: {f'stub and load on {cores[:1]}, gateways on {cores[1:]}' if pinned else 'shared'}"
    )
    try:
        asyncio.run(_run(args, {m: f"http://127.0.0.1:{p}" for m, p in ports.items()}))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()

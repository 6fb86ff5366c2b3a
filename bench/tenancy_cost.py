"""The cost of auth + limits + audit on the gateway's hot path: the same
streaming load through four gateways in one run, each adding a step:
*bare* (no keys, no audit records, fair queueing off), *fair* (fair queueing
on: its unsaturated path), *auth+limits* (a key file whose keys and tenants
carry rate limits never reached: their bookkeeping is what is measured) and
*all on* (the same with audit records, written to a file as a container's
stdout would be).

    .venv/bin/python bench/tenancy_cost.py            # concurrency 32, 5 rounds of 8 s
    .venv/bin/python bench/tenancy_cost.py --micro    # each added step's CPU per request

A script, not a timed test. The runtime is bench/tenancy_noisy's stub in its
own process, answering at once (no prefill, no pacing; --tokens lines per
request), so the gateway's CPU is what limits throughput and any per-request
or per-chunk cost shows; each gateway's own CPU time per line (from /proc) is
reported too, as it is much less disturbed by a shared machine than
throughput. Targets alternate within every round; the table gives medians
with min-max and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.gateway_overhead import _free_port, _wait_ready, on_cores  # noqa: E402
from bench.tenancy_noisy import SHARED_CORES, STUB_IP, Runtime, _objects, key_file  # noqa: E402

# target -> (API keys, audit records, fair queueing)
TARGETS = {
    "bare": (False, False, False),
    "fair": (False, False, True),
    "auth+limits": (True, False, True),
    "all on": (True, True, True),
}

BODY = {"model": "stub", "messages": [{"role": "user", "content": "moo"}]}


def stub_child(tokens: int) -> None:
    args = argparse.Namespace(slots=10**6, prefill_ms=0, token_ms=0, tokens=tokens,
                              prompt_tokens=20)  # fmt: skip

    async def serve() -> None:
        stub = Runtime(args)
        server = await asyncio.start_server(stub.serve, STUB_IP, 11434, backlog=1024)
        await server.serve_forever()

    asyncio.run(serve())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _level(url: str, key: str | None, concurrency: int, seconds: float) -> tuple[float, int]:
    """Lines per second through `url` and lines, `concurrency` streams back to back."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    lines = 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal lines
            while time.monotonic() < stop:
                async with session.post(url + "/api/chat", json=BODY, headers=headers) as r:
                    assert r.status == 200, await r.text()
                    async for _ in r.content:
                        lines += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return lines / (time.monotonic() - started), lines


async def _run(args: argparse.Namespace, urls: dict[str, str], pids: dict[str, int]) -> None:
    for url in urls.values():
        await _wait_ready(url + "/readyz", 60)
    keys = {t: "A-key" if TARGETS[t][0] else None for t in urls}
    res: dict[str, list[float]] = {k: [] for k in urls}
    cpu: dict[str, list[float]] = {k: [] for k in urls}  # gateway CPU microseconds a line
    for target in urls:
        await _level(urls[target], keys[target], args.concurrency, 2)  # warm-up
    for rnd in range(args.rounds):
        order = list(urls) if rnd % 2 == 0 else list(reversed(urls))
        for target in order:
            before = _cpu_seconds(pids[target])
            rate, lines = await _level(urls[target], keys[target], args.concurrency, args.seconds)
            res[target].append(rate)
            cpu[target].append((_cpu_seconds(pids[target]) - before) / lines * 1e6)
    print("| gateway | lines/s | gateway CPU us/line |")
    print("| --- | --- | --- |")
    for t in urls:
        print(f"| {t} | {_fmt(res[t], 0)} | {_fmt(cpu[t], 1)} |")
    pairs = (("all on", "bare", "all on / bare (the goal: >= 0.98)"),
             ("fair", "bare", "fair / bare (the fair queue's unsaturated path)"),
             ("auth+limits", "fair", "auth+limits / fair"),
             ("all on", "auth+limits", "all on / auth+limits (the audit record)"))  # fmt: skip
    for a, b, what in pairs:
        rate = statistics.median(res[a]) / statistics.median(res[b])
        per_cpu = statistics.median(cpu[b]) / statistics.median(cpu[a])
        print(f"| {what} | x{rate:.3f} | x{per_cpu:.3f} (lines per CPU second) |")


def _fmt(values: list[float], digits: int) -> str:
    mid, low, high = statistics.median(values), min(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def micro() -> None:
    """Per-request CPU of each added step, in this process (timeit, best of 5)."""
    import dataclasses
    import timeit

    from pasture_gateway import audit
    from pasture_gateway.auth import ApiKeys
    from pasture_gateway.identity import ALL_SCOPES, Identity, Limits
    from pasture_gateway.kube.peers import GatewayReplicas
    from pasture_gateway.protocol.usage import usage_from_tail
    from pasture_gateway.routing.objects import Endpoint, parse_deployment
    from pasture_gateway.usecases.admission import Admission

    big = Limits(10**9, 10**12)
    who = Identity("id-a", "A", ALL_SCOPES, limits=big, tenant_limits=big)
    keys = ApiKeys(None, "A-key,B-key")
    adm = Admission(GatewayReplicas())
    d = parse_deployment({"metadata": {"name": "m", "namespace": "n"}, "spec": {}})
    d = dataclasses.replace(d, ready=(Endpoint("p", "10.0.0.1:11434"),))
    tail = b'{"message":{"content":""},"done":true,"prompt_eval_count":20,"eval_count":64}\n' * 2
    log = audit.AuditLog()
    sink = open(os.devnull, "w")  # noqa: SIM115 (for the process's life)
    for handler in log.log.handlers:
        handler.setStream(sink)  # type: ignore[attr-defined]
    scope = {"client": ("127.0.0.1", 5000), "method": "POST", "path": "/api/chat",
             "state": {"request_id": "0" * 32, "identity": who, "status": 200,
                       "model": "stub", "usage": (20, 64)}}  # fmt: skip

    def audit_record() -> None:
        log.write(audit.from_scope(scope, 0.25))

    def limits() -> None:
        adm.check_limits(who)
        adm.charge_limits(who, (20, 64))

    def gate() -> None:
        # The unsaturated path never suspends: drive the coroutine by hand (an
        # event loop's own cost per call would swamp what is measured).
        coro = adm.enter(d, who, 120)
        try:
            coro.send(None)
        except StopIteration as done:
            ticket = done.value
        adm.leave(ticket, (20, 64))

    steps = {
        "identify (2 keys)": lambda: keys.identify("Bearer B-key"),
        "limits: check + charge (key and tenant)": limits,
        "fair gate, unsaturated: enter + leave": gate,
        "usage from the last two chunks": lambda: usage_from_tail(tail),
        "audit record: from the scope, JSON, written": audit_record,
    }  # fmt: skip
    print("| step | us per request |")
    print("| --- | --- |")

    async def timed() -> None:  # in a running event loop, as in the gateway (audit's timer)
        for name, fn in steps.items():
            n = 20000
            best = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
            print(f"| {name} | {best:.2f} |")

    asyncio.run(timed())
    log.flush()


def main() -> None:
    if sys.argv[1:2] == ["--micro"]:
        micro()
        return
    if sys.argv[1:2] == ["--stub-child"]:
        stub_child(int(sys.argv[2]))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--shared-cores", action="store_true", help=SHARED_CORES)
    args = p.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    pinned = not args.shared_cores and len(cores) >= 2
    stub_cores, gateway_cores = (cores[:1], cores[1:]) if pinned else (cores, cores)
    folder = Path(tempfile.mkdtemp(prefix="cost-"))
    objects, keys = folder / "objects.yaml", key_file(folder, limits=True)
    objects.write_text(_objects(10**6))
    ports = {t: _free_port() for t in TARGETS}
    noisy = str(ROOT / "bench" / "tenancy_noisy.py")
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--stub-child", str(args.tokens)],
            preexec_fn=on_cores(stub_cores),
        )
    ]
    pids: dict[str, int] = {}
    for target, port in ports.items():
        with_keys, with_audit, fair = TARGETS[target]
        argv = [sys.executable, noisy, "--gateway-child", "--host", "127.0.0.1", "--port",
                str(port), "--objects-file", str(objects), "--log-level", "warning",
                f"--fair-queueing={fair}", "--audit" if with_audit else "--no-audit"]  # fmt: skip
        if with_keys:
            argv += ["--api-keys-file", str(keys)]
        out = (folder / f"{target.replace(' ', '-')}.out").open("w")
        procs.append(subprocess.Popen(argv, stdout=out, preexec_fn=on_cores(gateway_cores)))
        pids[target] = procs[-1].pid
    os.sched_setaffinity(0, stub_cores)  # the load generator
    where = f"stub and load on {stub_cores}, gateways on {gateway_cores}"
    print(f"cores: {where if pinned else 'shared'}")
    try:
        asyncio.run(_run(args, {t: f"http://127.0.0.1:{p}" for t, p in ports.items()}, pids))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()

"""Soak benchmark: many concurrent streaming chats against one runtime on the CPU engine.

    .venv/bin/python bench/runtime_soak.py [--concurrency 64] [--seconds 60] [--disconnect-every 8]

Starts `pasture-runtime serve` on the tiny model (hack/tiny-model) on loopback,
runs `--concurrency` client loops for `--seconds`, each sending streaming
/api/chat requests back to back; every `--disconnect-every`-th request hangs up
after its first chunk (an intended disconnect). Then it checks that the
runtime's running and waiting gauges return to 0 and prints a markdown table:
requests completed, errors (anything but intended disconnects), p50/p99 latency
of completed requests, output tokens/s, and peak RSS of the runtime's process
tree (API server + engine core + worker), sampled every 0.5 s.
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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


async def client_loop(
    client: httpx.AsyncClient, idx: int, deadline: float, every: int, stats: dict[str, list[float]]
) -> None:
    n = 0
    while time.monotonic() < deadline:
        n += 1
        hang_up = every > 0 and (idx + n) % every == 0
        body = {
            "model": "tiny",
            "messages": [{"role": "user", "content": f"client {idx} request {n}"}],
            "options": {"num_predict": 64, "seed": idx * 1000 + n},
        }
        t0 = time.monotonic()
        try:
            async with client.stream("POST", "/api/chat", json=body) as r:
                if r.status_code != 200:
                    stats["errors"].append(r.status_code)
                    await r.aread()
                    continue
                tokens = 0
                async for line in r.aiter_lines():
                    if hang_up:
                        break
                    chunk = json.loads(line)
                    if "error" in chunk:
                        stats["errors"].append(0)
                        break
                    if chunk.get("done"):
                        tokens = chunk.get("eval_count", 0)
                if hang_up:
                    stats["disconnects"].append(1)
                else:
                    stats["latency"].append(time.monotonic() - t0)
                    stats["tokens"].append(tokens)
        except httpx.HTTPError as e:
            stats["errors"].append(-1)
            print(f"client {idx}: {e!r}", file=sys.stderr)


async def gauges(client: httpx.AsyncClient) -> tuple[float, float]:
    text = (await client.get("/metrics")).text
    values = {}
    for line in text.splitlines():
        for name in ("pasture_requests_running", "pasture_requests_waiting"):
            if line.startswith(name + "{"):
                values[name] = float(line.rsplit(" ", 1)[1])
    return values["pasture_requests_running"], values["pasture_requests_waiting"]


async def run(args: argparse.Namespace, base: str, pid: int) -> dict[str, object]:
    stats: dict[str, list[float]] = {"latency": [], "tokens": [], "errors": [], "disconnects": []}
    peak = 0.0
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        deadline = time.monotonic() + args.seconds
        loops = [
            asyncio.create_task(client_loop(client, i, deadline, args.disconnect_every, stats))
            for i in range(args.concurrency)
        ]
        while not all(t.done() for t in loops):
            peak = max(peak, tree_rss_mb(pid))
            await asyncio.sleep(0.5)
        await asyncio.gather(*loops)
        elapsed = time.monotonic() - (deadline - args.seconds)
        settled = None
        for _ in range(20):  # the gauges must drain to 0 once clients are gone
            running, waiting = await gauges(client)
            if running == 0 and waiting == 0:
                settled = (running, waiting)
                break
            await asyncio.sleep(0.25)
    lat = sorted(stats["latency"])
    return {
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 1),
        "completed": len(lat),
        "intended disconnects": len(stats["disconnects"]),
        "errors": len(stats["errors"]),
        "p50 latency (s)": round(statistics.median(lat), 2) if lat else None,
        "p99 latency (s)": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2) if lat else None,
        "output tokens/s": round(sum(stats["tokens"]) / elapsed, 1),
        "peak RSS (MB)": round(peak),
        "running/waiting after": "0/0" if settled else "NOT ZERO",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--disconnect-every", type=int, default=8)
    p.add_argument("--model-dir", type=Path, help="tiny model dir (default: made in a temp dir)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model_dir or Path(tmp) / "tiny"
        if not (model / "config.json").exists():
            subprocess.run([str(ROOT / "hack" / "tiny-model"), str(model)], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        port = free_port()
        env = {
            **os.environ,
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        }
        log = open(Path(tmp) / "runtime.log", "wb")  # noqa: SIM115 - lives as long as the server
        cmd = [
            str(ROOT / ".venv" / "bin" / "pasture-runtime"), "serve", "--model", str(model),
            "--name", "tiny:latest", "--host", "127.0.0.1", "--port", str(port),
            "--dtype", "bfloat16", "--max-model-len", "2048", "--enforce-eager", "true",
            "--max-waiting", str(args.concurrency * 2),
        ]  # fmt: skip
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    print((Path(tmp) / "runtime.log").read_text()[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.5)
            result = asyncio.run(run(args, base, server.pid))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            log.close()
    print("| " + " | ".join(result) + " |")
    print("|" + "---|" * len(result))
    print("| " + " | ".join(str(v) for v in result.values()) + " |")
    ok = result["errors"] == 0 and result["running/waiting after"] == "0/0"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

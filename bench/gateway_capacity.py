"""Gateway capacity: N concurrent slow streams through one `pasture-gateway`
process, against a stub upstream (no engine: this measures the gateway alone).

    .venv/bin/python bench/gateway_capacity.py                 # 2,000 streams

A script, not a timed test. The stub (an asyncio server on a loopback "pod"
address, 127.0.0.51:11434) answers every POST with a chunked NDJSON stream of
--lines lines, one every --interval seconds. The gateway routes to it from a
fixed table (--objects-file). N aiohttp streams are opened through the gateway,
then the same N directly to the stub. Reported: errors, time to first line
p50/p99 for both and the difference (the gateway's added latency), and the
gateway's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUB_IP = "127.0.0.51"
sys.path.insert(0, str(ROOT))
from bench.gateway_overhead import _free_port, _wait_ready  # noqa: E402


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 request off a stub runtime's connection: its body (the
    head is read and dropped; only Content-Length matters to a stub)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length)


async def _stub(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, args: argparse.Namespace
) -> None:
    try:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
            for i in range(args.lines):
                doc = {"i": i, "t": time.monotonic(), "done": i == args.lines - 1}
                line = json.dumps(doc).encode() + b"\n"
                writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                await writer.drain()
                if i < args.lines - 1:
                    await asyncio.sleep(args.interval)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # the client left, or the bench is over
    finally:
        writer.close()


async def _stream(
    session: aiohttp.ClientSession, url: str, firsts: list[float], lags: list[float] | None = None
) -> bool:
    """One stream; `firsts` gets its time to first line, `lags` each later
    line's delay from the stub's write to its arrival here."""
    sent = time.monotonic()
    try:
        async with session.post(url + "/api/chat", json={"model": "stub", "messages": []}) as r:
            if r.status != 200:
                return False
            got = 0
            async for line in r.content:
                now = time.monotonic()
                if got == 0:
                    firsts.append(now - sent)
                elif lags is not None:
                    lags.append(now - json.loads(line)["t"])
                got += 1
            return got > 0
    except aiohttp.ClientError:
        return False


async def _load(url: str, n: int) -> tuple[int, list[float], list[float]]:
    firsts: list[float] = []
    lags: list[float] = []
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as s:
        ok = await asyncio.gather(*(_stream(s, url, firsts, lags) for _ in range(n)))
    return n - sum(ok), sorted(firsts), sorted(lags)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _run(args: argparse.Namespace, gateway_url: str, pid: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _stub(r, w, args), STUB_IP, 11434, backlog=4096
    )
    async with server:
        await _wait_ready(gateway_url + "/readyz", 60)
        rows = []
        for target, url in (("gateway", gateway_url), ("direct", f"http://{STUB_IP}:11434")):
            started = time.monotonic()
            errors, firsts, lags = await _load(url, args.streams)
            rows.append((target, errors, firsts, lags, time.monotonic() - started))
        print(f"streams={args.streams} lines={args.lines} interval={args.interval}s")
        print("| target | errors | first line p50 / p99 ms | later lines p50 / p99 ms | wall s |")
        print("| --- | --- | --- | --- | --- |")
        for target, errors, firsts, lags, wall in rows:
            first = f"{_pct(firsts, 0.5):.1f} / {_pct(firsts, 0.99):.1f}"
            later = f"{_pct(lags, 0.5):.1f} / {_pct(lags, 0.99):.1f}"
            print(f"| {target} | {errors} | {first} | {later} | {wall:.1f} |")
        added = _pct(rows[0][3], 0.99) - _pct(rows[1][3], 0.99)
        print(
            f"added p99 per streamed line: {added:+.1f} ms; gateway peak RSS: {_hwm_mb(pid):.0f} MB"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--streams", type=int, default=2000)
    p.add_argument("--lines", type=int, default=10)
    p.add_argument("--interval", type=float, default=1.0)
    args = p.parse_args()
    objects = Path(tempfile.mkdtemp(prefix="gw-cap-")) / "objects.yaml"
    meta = {"namespace": "bench"}
    objects.write_text(yaml.safe_dump_all([
        {"kind": "ModelDeployment", "metadata": {**meta, "name": "stub"},
         "spec": {"modelRef": {"name": "stub"}}, "status": {"servedNames": ["stub"]}},
        {"kind": "Pod", "metadata": {**meta, "name": "stub-0",
                                     "labels": {"pasture.dev/deployment": "stub"}},
         "status": {"phase": "Running", "podIP": STUB_IP,
                    "conditions": [{"type": "Ready", "status": "True"}]}},
    ]))  # fmt: skip
    port = _free_port()
    gw = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "pasture-gateway"), "--host", "127.0.0.1", "--port",
         str(port), "--objects-file", str(objects), "--log-level", "warning"]
    )  # fmt: skip
    try:
        asyncio.run(_run(args, f"http://127.0.0.1:{port}", gw.pid))
    finally:
        gw.terminate()
        gw.wait(30)


if __name__ == "__main__":
    main()

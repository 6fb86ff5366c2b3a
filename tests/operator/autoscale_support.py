"""Real runtimes behind kwok pods, and real streaming load, for the autoscaler tests.

kwok pods run no process. The runtime processes (real vLLM CPU engine, tiny
model) start once per session on 127.0.0.1; a pod's IP is only known once the
pod exists, while an engine takes 60-80 s to start, so `PodRelay` binds each
pod's IP (127.77.x.y, loopback) on the runtime port and relays bytes to a
runtime of its own (one runtime per pod; pods beyond the runtimes get no
listener and are honestly unscrapable). The operator scrapes `podIP:11434/metrics`
exactly as in a cluster; every number it reads comes from a runtime's
/metrics while it serves real requests. `Load` keeps N concurrent streaming
/api/generate requests open through the pods' IPs (like a Service would,
spreading new streams over the pods that have a runtime).

Both run on one asyncio loop in a background thread, so the (synchronous)
tests can poll the cluster while load flows. Also used by bench/autoscaler_reaction.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.fixtures.tiers import require_tier

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / ".venv" / "bin" / "pasture-runtime"
POD_PORT = 11434
T = TypeVar("T")


# --- runtime processes -------------------------------------------------------
@dataclass
class Runtime:
    proc: subprocess.Popen[bytes]
    address: str  # host:port
    log: Path

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://{self.address}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_runtimes(
    model_dir: Path, ports: list[int], log_dir: Path, timeout: float = 420
) -> list[Runtime]:
    """Start one `pasture-runtime serve` per port (tiny model, 1 GiB KV cache); wait ready."""
    require_tier("engine")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    out: list[Runtime] = []
    try:
        for port in ports:
            log = log_dir / f"runtime-{port}.log"
            with log.open("wb") as f:
                proc = subprocess.Popen(
                    [
                        # Lowest priority: on this 2-core machine two engines
                        # under load otherwise starve the local control plane
                        # (seen: apiserver TLS handshakes timing out for 10 s+).
                        # In a cluster the runtimes have nodes of their own.
                        "nice",
                        "-n",
                        "19",
                        str(RUNTIME),
                        "serve",
                        "--model",
                        str(model_dir),
                        "--name",
                        "tiny",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--max-model-len",
                        "2048",
                        "--enforce-eager",
                        "true",
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                )
            out.append(Runtime(proc, f"127.0.0.1:{port}", log))
        deadline = time.monotonic() + timeout
        while not all(r.ready() for r in out):
            for r in out:
                if r.proc.poll() is not None:
                    raise RuntimeError(f"runtime exited: {r.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"runtimes not ready after {timeout}s")
            time.sleep(1)
    except BaseException:
        for r in out:
            r.stop()
        raise
    return out


# --- the background loop -----------------------------------------------------
class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="autoscale-support"
        )
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    def close(self) -> None:
        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(_cancel_all(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


# --- pods -> runtimes --------------------------------------------------------
async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class _Binding:
    ip: str
    runtime: str
    server: asyncio.Server


@dataclass
class PodRelay:
    """Gives each pod of one ModelDeployment a runtime (while runtimes last)."""

    loop: LoopThread
    list_pods: Callable[[], list[dict[str, Any]]]  # the deployment's pods (API dicts)
    runtimes: list[str]
    bindings: dict[str, _Binding] = field(default_factory=dict)  # pod name -> binding
    _task: asyncio.Task[None] | None = None
    _rr: Iterator[int] = field(default_factory=itertools.count)

    def start(self) -> None:
        async def go() -> None:
            self._task = asyncio.create_task(self._watch())

        self.loop.run(go())

    def stop(self) -> None:
        async def go() -> None:
            if self._task:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            for b in self.bindings.values():
                b.server.close()
            self.bindings.clear()

        self.loop.run(go())

    def mapped(self) -> dict[str, str]:
        """pod name -> runtime address, for the pods that have one."""
        return {p: b.runtime for p, b in list(self.bindings.items())}

    def pick_url(self) -> str | None:
        """A pod address to send a new request to (round robin, like a Service)."""
        live = sorted(b.ip for b in list(self.bindings.values()))
        return f"http://{live[next(self._rr) % len(live)]}:{POD_PORT}" if live else None

    async def _watch(self) -> None:
        while True:
            try:
                pods = await asyncio.to_thread(self.list_pods)
                await self._sync(pods)
            except Exception as e:  # an apiserver blip: try again
                print(f"relay: {e!r}")
            await asyncio.sleep(0.2)

    async def _sync(self, pods: list[dict[str, Any]]) -> None:
        live = {
            p["metadata"]["name"]: p["status"].get("podIP")
            for p in pods
            if not p["metadata"].get("deletionTimestamp") and p["status"].get("podIP")
        }
        for name in [n for n, b in self.bindings.items() if live.get(n) != b.ip]:
            self.bindings.pop(name).server.close()
        free = [r for r in self.runtimes if r not in {b.runtime for b in self.bindings.values()}]
        for name in sorted(n for n in live if n not in self.bindings):
            if not free:
                break
            runtime = free.pop(0)
            self.bindings[name] = _Binding(
                live[name], runtime, await self._serve(live[name], runtime)
            )

    @staticmethod
    async def _serve(ip: str, runtime: str) -> asyncio.Server:
        host, port = runtime.rsplit(":", 1)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_r, up_w = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.close()
                return
            with contextlib.suppress(asyncio.CancelledError):  # relay stopped mid-request
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))

        return await asyncio.start_server(handle, ip, POD_PORT, reuse_address=True)


# --- load ----------------------------------------------------------------------
@dataclass
class Load:
    """N concurrent streaming generations, each restarted when it ends."""

    loop: LoopThread
    pick_url: Callable[[], str | None]
    streams: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    completed: int = 0
    _client: httpx.AsyncClient | None = None

    def start(self) -> None:
        async def go() -> None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=2), trust_env=False)
            self.tasks = [asyncio.create_task(self._stream(i)) for i in range(self.streams)]

        self.loop.run(go())

    def stop(self) -> None:
        async def go() -> None:
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            if self._client:
                await self._client.aclose()

        self.loop.run(go())

    async def _stream(self, i: int) -> None:
        assert self._client is not None
        body = {
            "model": "tiny",
            "prompt": f"count sheep {i}",
            "stream": True,
            "options": {"num_predict": 100000},
        }
        while True:
            url = self.pick_url()
            if url is None:
                await asyncio.sleep(0.1)
                continue
            try:
                async with self._client.stream("POST", f"{url}/api/generate", json=body) as r:
                    async for _ in r.aiter_lines():
                        pass
                self.completed += 1
            except httpx.HTTPError:
                await asyncio.sleep(0.1)


def wait_until(
    predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1
) -> T:
    deadline = time.monotonic() + timeout
    last = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = predicate()
    return last

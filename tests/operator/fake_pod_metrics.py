"""A fake runtime /metrics on kwok pods' IPs: the test chooses what the pods "report".

kwok hands out loopback pod IPs (tests/fixtures/cluster.py), so binding
`podIP:11434` puts an HTTP server exactly where the operator's autoscaler
scrapes. The body is whatever `body` holds at request time (set it between
checks), or, when `bodies` is set, the next of those in turn (a load that
moves every scrape); `chunks` > 1 repeats it with chunked encoding (a huge
body without holding it in memory). `served` counts the requests answered.
One event loop in a thread serves every IP; `sync` follows a changing set of
pods (the benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

POD_PORT = 11434


def exposition(running: str, waiting: str = "0") -> bytes:
    return (
        "# TYPE pasture_requests_running gauge\n"
        f'pasture_requests_running{{model="tiny"}} {running}\n'
        "# TYPE pasture_requests_waiting gauge\n"
        f'pasture_requests_waiting{{model="tiny"}} {waiting}\n'
    ).encode()


class FakePodMetrics:
    def __init__(self, *ips: str) -> None:
        self.ips = list(ips)
        self.body = exposition("0")
        self.bodies: list[bytes] = []
        self.chunks = 1
        self.served = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: dict[str, asyncio.Server] = {}

    def _run(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(60)

    def start(self) -> FakePodMetrics:
        self._thread.start()
        self.sync(self.ips)
        return self

    def sync(self, ips: Iterable[str]) -> None:
        """Serve exactly these IPs (bind the new ones, close the gone ones)."""
        wanted = set(ips)

        async def go() -> None:
            for ip in [i for i in self._servers if i not in wanted]:
                self._servers.pop(ip).close()
            for ip in sorted(wanted - set(self._servers)):
                with contextlib.suppress(OSError):  # e.g. a pod IP reused a moment ago
                    self._servers[ip] = await asyncio.start_server(
                        self._handle, ip, POD_PORT, reuse_address=True
                    )

        self._run(go())

    def stop(self) -> None:
        async def close_all() -> None:  # servers, then the connections still open
            for server in self._servers.values():
                server.close()
            self._servers.clear()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._run(close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: the operator's client reuses connections
                await reader.readuntil(b"\r\n\r\n")
                body, chunks = self.body, self.chunks
                if self.bodies:
                    body = self.bodies[self.served % len(self.bodies)]
                self.served += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                for _ in range(chunks):
                    writer.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # stop()
            pass
        finally:
            writer.transport.abort()

"""HTTP to runtime pods: one pooled aiohttp session, streamed responses. A
response is opened (status and headers read) before the client sees a byte,
so a connect failure or the runtime's busy 503 can still go to another replica.

aiohttp, not httpx: under 2,000 concurrent streams httpcore's pool spent
most of the gateway's CPU assigning requests to connections (py-spy, see
BENCHMARKS.md); aiohttp's connector does not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import aiohttp

# Hop-by-hop and per-connection headers never cross the proxy.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
        "date", "server",
    }
)  # fmt: skip


# What reading a response body raises when the replica went away mid-stream.
STREAM_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError,)


class ConnectFailed(Exception):
    """The replica could not be reached, or dropped the connection before
    answering: safe to retry elsewhere (a runtime aborts a request whose
    client left, so nothing reaches anyone twice)."""


class MidStreamFailure(Exception):
    """The replica went away after its response started."""


class UpstreamResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._r = response

    @property
    def status(self) -> int:
        return self._r.status

    @property
    def content_type(self) -> str:
        return self._r.headers.get("content-type", "")

    def headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self._r.headers.items() if k.lower() not in HOP_BY_HOP]

    async def read(self) -> bytes:
        try:
            return await self._r.read()
        except aiohttp.ClientError as e:
            raise MidStreamFailure(str(e)) from e

    def reader(self) -> Callable[[], Awaitable[bytes]]:
        """The body's next bytes as they arrive (b"" at the end), as a bare
        coroutine function: the relay's per-chunk path, one await deep (an
        async generator around aiohttp's iterator cost two more frames a
        chunk). Raises STREAM_ERRORS when the replica goes away."""
        return self._r.content.readany

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, no re-assembly."""
        try:
            async for data in self._r.content.iter_any():
                yield data
        except aiohttp.ClientError as e:
            raise MidStreamFailure(str(e)) from e

    def close(self) -> None:
        """Closes the connection unless the body was read to the end: a client
        that left mid-stream makes the runtime see a disconnect and abort."""
        self._r.close()


class Upstream:
    def __init__(self, connect_timeout: float = 3.0) -> None:
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def open(
        self, address: str, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> UpstreamResponse:
        session = self._open_session()
        try:
            response = await session.request(
                method, f"http://{address}{path}", headers=list(headers), data=body
            )
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as e:
            raise ConnectFailed(str(e)) from e
        except TimeoutError as e:  # the connect timeout (no total timeout is set)
            raise ConnectFailed(f"connect timeout: {e}") from e
        return UpstreamResponse(response)

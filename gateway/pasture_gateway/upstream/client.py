"""HTTP to runtime pods: one pooled client, streamed responses. A response is
opened (status and headers read) before the client sees a byte, so a
connect failure or the runtime's busy 503 can still go to another replica."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import httpx

# Hop-by-hop and per-connection headers never cross the proxy.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
        "date", "server",
    }
)  # fmt: skip


class ConnectFailed(Exception):
    """The replica could not be reached: nothing was sent, safe to retry."""


class Upstream:
    def __init__(self, connect_timeout: float = 3.0, max_connections: int = 4096) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=256),
            trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def open(
        self, address: str, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        request = self.client.build_request(
            method, f"http://{address}{path}", headers=list(headers), content=body
        )
        try:
            return await self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise ConnectFailed(str(e)) from e


def response_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]


async def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it arrives (no re-chunking, no decoding); closes the upstream
    request when the consumer stops early (a client disconnect aborts the engine's work)."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()

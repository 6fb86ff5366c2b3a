"""Item 15: a pod's /metrics is untrusted input (NaN, Inf, negative, huge bodies)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator

import pytest

from pasture_operator.autoscale.policy import AutoscalingSpec, Sample, decide
from pasture_operator.autoscale.scrape import PodTarget, Scraper, parse_load

SPEC = AutoscalingSpec(enabled=True, min_replicas=1, max_replicas=4, target=2.0, interval=5.0)
NOW = 1_000_000.0


def body(running: str, waiting: str = "0") -> str:
    return (
        "# TYPE pasture_requests_running gauge\n"
        f'pasture_requests_running{{model="tiny"}} {running}\n'
        "# TYPE pasture_requests_waiting gauge\n"
        f'pasture_requests_waiting{{model="tiny"}} {waiting}\n'
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (body("NaN"), "not a finite"),
        (body("+Inf"), "not a finite"),
        (body("-Inf"), "not a finite"),
        (body("1", "NaN"), "not a finite"),
        (body("-1"), "negative"),
        (body("1e300"), "implausibly large"),
        ("pasture_requests_running{ 1\n", None),  # malformed exposition
        ("# nothing here\nup 1\n", "pasture_requests_running"),
    ],
)
def test_untrusted_values_are_refused(text: str, error: str | None) -> None:
    with pytest.raises(ValueError, match=error):
        parse_load(text, "inFlightRequests")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(body("3", "2"), 5.0), (body("0"), 0.0), (body("2.5", "0.5"), 3.0)],
)
def test_valid_values_are_summed(text: str, expected: float) -> None:
    assert parse_load(text, "inFlightRequests") == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_decide_never_raises_on_a_bad_sample(bad: float) -> None:
    """Even if a bad number reached the window, the decision holds instead of raising."""
    window = [Sample(NOW - 5, 1.0, 1, 0), Sample(NOW, bad, 1, 0)]
    d = decide(window, 2, SPEC, None, NOW)
    assert d.desired == 2
    assert d.reason == "NoMetrics"


async def _serve(payload: bytes, chunks: int, sent: list[int]) -> AsyncGenerator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(chunks):
                writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                await writer.drain()
                sent.append(len(payload))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _scrape(payload: bytes, chunks: int, sent: list[int]) -> float | None:
    gen = _serve(payload, chunks, sent)
    port = await gen.__anext__()
    scraper = Scraper()
    try:
        target = PodTarget("p", f"http://127.0.0.1:{port}/metrics")
        reading = await scraper._one(target, "inFlightRequests")
        return None if reading is None else reading.load
    finally:
        await scraper.close()
        await gen.aclose()


def test_oversized_body_is_cut_off_and_the_pod_is_missing() -> None:
    """A 64 MiB chunked body against the cap: refused without reading it all."""
    filler = b"# " + b"x" * (1 << 20) + b"\n"
    sent: list[int] = []
    assert asyncio.run(_scrape(filler, 64, sent)) is None
    # The server got through the cap (4 MiB) plus what socket buffers hold, not 64 MiB.
    assert sum(sent) < 24 << 20, f"{sum(sent) >> 20} MiB read"


def test_a_normal_body_is_read() -> None:
    assert asyncio.run(_scrape(body("3", "1").encode(), 1, [])) == 4.0

"""Demand and keep-alive signals written as ModelDeployment annotations
(contract item 4): what to write, and when (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

LAST_REQUEST = "pasture.dev/last-request"
KEEP_ALIVE = "pasture.dev/keep-alive"
WRITE_INTERVAL = 10.0  # seconds: at most one write per ModelDeployment per gateway process


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def demand_annotations(last_request: float, keep_alive: int | None) -> dict[str, str]:
    out = {LAST_REQUEST: rfc3339(last_request)}
    if keep_alive is not None:
        out[KEEP_ALIVE] = str(keep_alive)
    return out


def should_write(
    now: float, last_written: float | None, urgent: bool, keep_alive_changed: bool
) -> bool:
    """Now if urgent (a hold starts) or the keep-alive changed; else throttled."""
    if urgent or keep_alive_changed or last_written is None:
        return True
    return now - last_written >= WRITE_INTERVAL

"""The engine's values as the layers above it see them: plain data, no vLLM
types (engine.py builds them from vLLM's outputs), so the use cases and their
unit tests need no engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Delta:
    """New output of one request since the previous Delta."""

    text: str
    token_ids: list[int]
    finished: bool
    finish_reason: str | None
    # Engine-core timestamps and counts (set on the final Delta when known).
    queued_ts: float = 0.0
    scheduled_ts: float = 0.0
    first_token_ts: float = 0.0
    last_token_ts: float = 0.0
    # The prompt as the engine ran it: with images, each placeholder has been
    # expanded into the model's image tokens, so this is the real count.
    prompt_tokens: int = 0


@dataclass(frozen=True)
class Pooled:
    """One finished embedding request."""

    vector: list[float]
    prompt_tokens: int
    queued_ts: float = 0.0
    scheduled_ts: float = 0.0


class EngineBadRequest(Exception):
    """The engine refused the request's parameters (a client error)."""


def stat(stats: Any, name: str) -> float:
    """One engine-core timestamp of a request's RequestStateStats (0 when absent)."""
    return float(getattr(stats, name, 0.0) or 0.0)

"""The engine's values as the layers above it see them: plain data, no vLLM
types (engine.py builds them from vLLM's outputs), so the use cases and their
unit tests need no engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenLogprob:
    """One token and its log probability."""

    token: str
    logprob: float


@dataclass(frozen=True)
class Logprob:
    """The log probability of one generated token, and the `top` most likely
    tokens at its position (most likely first; empty unless asked for)."""

    token: str
    logprob: float
    top: tuple[TokenLogprob, ...] = ()


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
    # One per token of `token_ids` when the request asked for logprobs.
    logprobs: tuple[Logprob, ...] = ()


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


def token_logprobs(positions: Any, token_ids: Any, top: int) -> tuple[Logprob, ...]:
    """vLLM's sample logprobs of a delta (per position, {token id: Logprob with
    rank and decoded_token}; a list or FlatLogprobs) -> Logprobs, with the
    `top` best-ranked tokens of each position."""
    if not positions:
        return ()
    out = []
    for token_id, alternatives in zip(token_ids, positions, strict=False):
        if not alternatives:
            continue
        chosen = alternatives.get(token_id)
        ranked = sorted(alternatives.values(), key=lambda lp: lp.rank or 0)[:top]
        out.append(
            Logprob(
                token=(chosen.decoded_token or "") if chosen else "",
                logprob=float(chosen.logprob) if chosen else 0.0,
                top=tuple(TokenLogprob(lp.decoded_token or "", float(lp.logprob)) for lp in ranked),
            )
        )
    return tuple(out)

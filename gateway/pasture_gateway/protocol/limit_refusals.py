"""Refusals of the limits and of the fair queue, in each protocol's shape
(the body comes from ErrorReply, by path: Ollama's, OpenAI's (the Responses
API's too), Anthropic's on /v1/messages, where 429 is `rate_limit_error` and
the busy 503 `overloaded_error`)."""

from __future__ import annotations

from ..routing.limits import REQUESTS, Refusal
from .errors import BUSY, ErrorReply

RATE_LIMITED = "rate_limit_exceeded"


def rate_limited(refusal: Refusal) -> ErrorReply:
    who = refusal.subject.replace(":", " ", 1)  # "key k1", "tenant team-a"
    what = "requests" if refusal.kind == REQUESTS else "tokens"
    return ErrorReply(
        429,
        f"rate limit exceeded: {who} may use {refusal.limit} {what} per minute; "
        f"try again in {refusal.retry_after}s",
        code=RATE_LIMITED,
        headers=(("Retry-After", str(refusal.retry_after)),),
    )


def queue_full(retry_after: int = 1) -> ErrorReply:
    """The model is saturated and its fair queue is full: the runtime's busy 503."""
    return ErrorReply(503, BUSY, headers=(("Retry-After", str(retry_after)),))

"""Engine results -> Ollama response objects (generate and chat chunks)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def created_at(ns: int | None = None) -> str:
    """RFC 3339 UTC with nanoseconds, as Go's time.Time marshals."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return f"{_seconds_stamp(secs)}.{frac:09d}Z"


@functools.lru_cache(maxsize=4)
def _seconds_stamp(secs: int) -> str:
    # Every streamed chunk carries a timestamp; strftime once per second.
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Timings:
    """Engine timestamps (engine-core monotonic seconds) and counts for one request."""

    received_ns: int  # our monotonic_ns() when the request arrived
    finished_ns: int  # our monotonic_ns() when the last output came
    queued_ts: float
    scheduled_ts: float
    first_token_ts: float
    last_token_ts: float
    prompt_tokens: int
    output_tokens: int


def _ns(seconds: float) -> int:
    return max(int(seconds * 1e9), 0)


def final_metrics(t: Timings) -> dict[str, int]:
    """Ollama's six metrics, in nanoseconds, from the engine's own timestamps.

    load_duration: time queued in the engine before scheduling (the model is
    always loaded in a Pasture pod); prompt_eval_duration: scheduling to first
    token (prefill); eval_duration: first to last token (decode). All are kept
    >= 1 ns: clients compute rates only when the values are present (non-zero)."""
    total = max(t.finished_ns - t.received_ns, 1)
    load = _ns(t.scheduled_ts - t.queued_ts) if t.scheduled_ts and t.queued_ts else 0
    prompt_eval = _ns(t.first_token_ts - t.scheduled_ts) if t.first_token_ts else 0
    eval_ = _ns(t.last_token_ts - t.first_token_ts) if t.last_token_ts else 0
    if t.output_tokens == 1 and eval_ == 0:
        # A single token has no decode interval; attribute its step time.
        eval_ = prompt_eval
    return {
        "total_duration": total,
        "load_duration": max(load, 1),
        "prompt_eval_count": max(t.prompt_tokens, 1),
        "prompt_eval_duration": max(prompt_eval, 1),
        "eval_count": t.output_tokens,
        "eval_duration": max(eval_, 1),
    }


def done_reason(finish_reason: str | None) -> str:
    """vLLM finish reasons -> Ollama's (`stop` | `length`)."""
    if finish_reason == "length":
        return "length"
    return "stop"


def generate_chunk(model: str, text: str, thinking: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": created_at(), "response": text}
    if thinking:  # omitempty, as Ollama's GenerateResponse.Thinking
        body["thinking"] = thinking
    body["done"] = False
    return body


def _message(text: str, calls: list[dict[str, Any]] | None, thinking: str = "") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = calls
    return message


def chat_chunk(
    model: str, text: str, calls: list[dict[str, Any]] | None = None, thinking: str = ""
) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": created_at(),
        "message": _message(text, calls, thinking),
        "done": False,
    }


def generate_final(
    model: str,
    text: str,
    reason: str,
    metrics: dict[str, int],
    context: list[int] | None,
    thinking: str = "",
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": created_at(), "response": text}
    if thinking:
        body["thinking"] = thinking
    body.update(done=True, done_reason=reason)
    if context is not None:
        body["context"] = context
    body.update(metrics)
    return body


def chat_final(
    model: str,
    text: str,
    reason: str,
    metrics: dict[str, int],
    calls: list[dict[str, Any]] | None = None,
    thinking: str = "",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "created_at": created_at(),
        "message": _message(text, calls, thinking),
        "done": True,
        "done_reason": reason,
    }
    body.update(metrics)
    return body


def load_response(model: str, unload: bool, chat: bool) -> dict[str, Any]:
    """The reply to an empty prompt / empty messages (a load or unload request)."""
    body: dict[str, Any] = {"model": model, "created_at": created_at()}
    if chat:
        body["message"] = {"role": "assistant", "content": ""}
    else:
        body["response"] = ""
    body["done"] = True
    body["done_reason"] = "unload" if unload else "load"
    return body

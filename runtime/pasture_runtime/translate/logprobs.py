"""Log probabilities: the request's ask, checked as Ollama checks it, and the
engine's values in Ollama's shape (api/types.go `Logprob`) and OpenAI's. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..engine_types import Logprob, TokenLogprob
from ..errors import OllamaError

MAX_TOP = 20  # Ollama's bound (server/routes.go), also vLLM's default max_logprobs
TOP_RANGE = "top_logprobs must be between 0 and 20"


def requested(logprobs: bool | None, top_logprobs: int | None) -> int | None:
    """How many alternatives per token the engine must report (None: no
    logprobs). `top_logprobs` is checked even without `logprobs`, as Ollama
    does; it applies only with `logprobs: true`."""
    if top_logprobs is not None and not 0 <= top_logprobs <= MAX_TOP:
        raise OllamaError(400, TOP_RANGE)
    return (top_logprobs or 0) if logprobs else None


def _bytes(token: str) -> list[int] | None:
    # Ollama's stringToByteInts: the token's UTF-8 bytes, omitted when empty.
    return list(token.encode("utf-8")) or None


def _token(t: TokenLogprob | Logprob) -> dict[str, Any]:
    out: dict[str, Any] = {"token": t.token, "logprob": t.logprob}
    raw = _bytes(t.token)
    if raw is not None:
        out["bytes"] = raw
    return out


def ollama_logprobs(items: Iterable[Logprob]) -> list[dict[str, Any]]:
    """Engine Logprobs -> Ollama's `logprobs` list (`top_logprobs` omitted when empty)."""
    out = []
    for lp in items:
        entry = _token(lp)
        if lp.top:
            entry["top_logprobs"] = [_token(t) for t in lp.top]
        out.append(entry)
    return out


def openai_chat_logprobs(items: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Ollama's logprobs -> a chat choice's `logprobs` (`{"content": [...]}`, as
    OpenAI and Ollama's openai.go send it; `top_logprobs` always a list there)."""
    if not items:
        return None
    return {"content": [{**i, "top_logprobs": i.get("top_logprobs") or []} for i in items]}


def openai_text_logprobs(items: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Ollama's logprobs -> a text completion choice's `logprobs`: OpenAI's legacy
    shape (tokens, token_logprobs, top_logprobs as {token: logprob}, text_offset),
    with Ollama's `content` list beside it for clients of Ollama's openai.go."""
    if not items:
        return None
    offsets, at = [], 0
    for i in items:
        offsets.append(at)
        at += len(i["token"])
    return {
        "tokens": [i["token"] for i in items],
        "token_logprobs": [i["logprob"] for i in items],
        "top_logprobs": [
            {t["token"]: t["logprob"] for t in i.get("top_logprobs") or []} for i in items
        ],
        "text_offset": offsets,
        "content": [{**i, "top_logprobs": i.get("top_logprobs") or []} for i in items],
    }

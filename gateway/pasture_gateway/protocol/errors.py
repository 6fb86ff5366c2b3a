"""Error replies in each protocol's shape: Ollama `{"error": "..."}` on /api/
and /, Anthropic's `{"type": "error", "error": {...}}` on /v1/messages,
OpenAI's error object on the rest of /v1/ (the Responses API's too). Texts
clients match on are Ollama's own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..routing.names import display_name
from ..routing.objects import Deployment
from . import refusals

BUSY = "server busy, please try again.  maximum pending requests exceeded"
MODEL_REQUIRED = "model is required"
MISSING_BODY = "missing request body"
SHUTTING_DOWN = "server is shutting down, please try again"
UNAUTHORIZED = refusals.UNAUTHORIZED
BODY_TOO_LARGE = "request body too large"

_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
ANTHROPIC_PATHS = frozenset({"/v1/messages"})
# Anthropic's error types by status, as Ollama's anthropic.NewError (the SDK
# raises its exception class by status; the type is what a caller logs).
_ANTHROPIC_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


@dataclass(frozen=True)
class ErrorReply:
    status: int
    message: str
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def body(self, path: str) -> bytes:
        if path in ANTHROPIC_PATHS:
            return anthropic_body(self.status, self.message)
        if path.startswith("/v1/"):
            kind = (
                "server_error" if self.status >= 500 else _OPENAI_TYPES.get(self.status)
            ) or "invalid_request_error"
            err = {"message": self.message, "type": kind, "param": None, "code": self.code}
            return json.dumps({"error": err}).encode()
        return json.dumps({"error": self.message}).encode()


def anthropic_body(status: int, message: str) -> bytes:
    kind = _ANTHROPIC_TYPES.get(status) or (
        "api_error" if status >= 500 else "invalid_request_error"
    )
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def not_found(path: str, name: str) -> ErrorReply:
    """Ollama's exact texts: embeddings say "try pulling it first"; show lists the tag."""
    if path in ("/api/embed", "/api/embeddings"):
        return ErrorReply(404, f'model "{name}" not found, try pulling it first')
    if path == "/api/show":
        return ErrorReply(404, f"model '{display_name(name)}' not found")
    return ErrorReply(404, f"model '{name}' not found", code="model_not_found")


def model_forbidden(name: str) -> ErrorReply:
    """A model this key may not use (protocol/refusals.py: the same whether it exists or not)."""
    return ErrorReply(403, refusals.model_forbidden(name), code="model_forbidden")


def conflict(name: str, deployments: Sequence[Deployment]) -> ErrorReply:
    owners = ", ".join(d.key for d in deployments)
    return ErrorReply(
        409,
        f'model "{name}" is served by more than one ModelDeployment ({owners}); '
        "the gateway will not choose between them",
        code="model_name_conflict",
    )


def _retry(seconds: int) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", str(seconds)),)


def hold_full(name: str, limit: int, retry_after: int) -> ErrorReply:
    return ErrorReply(
        429,
        f'model "{name}" is starting and {limit} requests already wait for it; try again later',
        code="rate_limit_exceeded",
        headers=_retry(retry_after),
    )


def starting_message(name: str, deployment: Deployment) -> str:
    """What a hold waited for, from the ModelDeployment's conditions (contract item 6)."""
    want = max(deployment.replicas, 1)
    text = f'model "{name}" is starting: {len(deployment.ready)}/{want} replicas ready'
    ready = deployment.condition("Ready")
    if ready is not None and ready.status != "True" and (ready.reason or ready.message):
        text += f" ({ready.reason}: {ready.message})" if ready.message else f" ({ready.reason})"
    return text


def hold_timeout(name: str, deployment: Deployment, retry_after: int) -> ErrorReply:
    return ErrorReply(503, starting_message(name, deployment), headers=_retry(retry_after))


def shutting_down() -> ErrorReply:
    return ErrorReply(503, SHUTTING_DOWN, headers=_retry(1))


def upstream_unavailable(name: str) -> ErrorReply:
    return ErrorReply(
        503, f'model "{name}": no replica could be reached, please try again', headers=_retry(1)
    )

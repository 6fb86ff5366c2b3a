"""Refusals of a caller (401, 403) in each protocol's shape: Ollama's
`{"error": "..."}`, OpenAI's error object on /v1/, Anthropic's on /v1/messages.

A model a key may not use gets 403 decided on the requested name alone,
before any lookup: the same answer whether or not the model exists, so a key
learns nothing about the models it may not use."""

from __future__ import annotations

import json

UNAUTHORIZED = "unauthorized: a valid API key is required (Authorization: Bearer <key>)"
_KINDS = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def scope_forbidden(scope: str) -> str:
    return f"forbidden: this API key does not have the {scope!r} scope"


def model_forbidden(model: str) -> str:
    return f"forbidden: this API key may not use model {model!r}"


def body(path: str, status: int, message: str) -> bytes:
    kind = _KINDS.get(status, "invalid_request_error")
    if path == "/v1/messages":
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    if path.startswith("/v1/"):
        code = {401: "invalid_api_key", 403: "forbidden"}.get(status)
        err = {"message": message, "type": kind, "param": None, "code": code}
        return json.dumps({"error": err}).encode()
    return json.dumps({"error": message}).encode()

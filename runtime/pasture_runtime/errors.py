"""Errors in Ollama's shape: `{"error": "<message>"}` with the status Ollama uses."""

from __future__ import annotations


class OllamaError(Exception):
    """Raised anywhere below the routers; the app turns it into a JSON error."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        # OpenAI's machine-readable `error.code` (e.g. model_not_found) on /v1/.
        self.code = code


# Exact texts from Ollama (server/routes.go, server/sched.go); clients match on some.
BUSY = "server busy, please try again.  maximum pending requests exceeded"
MISSING_BODY = "missing request body"
MODEL_REQUIRED = "model is required"
RAW_CONFLICT = "raw mode does not support template, system, or context"
SHUTTING_DOWN = "server is shutting down, please try again"
# Pasture's (Ollama has no body limit).
BODY_TOO_LARGE = "request body too large"


def internal_failure(request_id: str | None) -> str:
    """What a client is told when generation fails for a reason of ours. The
    exception text stays in the log: it can hold paths, internals, or another
    request's data, and means nothing to a client. The request id finds it."""
    where = f" (request id {request_id}; see the server log)" if request_id else ""
    return f"generation failed: internal error{where}"


def model_not_found(name: str) -> OllamaError:
    return OllamaError(404, f"model '{name}' not found", code="model_not_found")

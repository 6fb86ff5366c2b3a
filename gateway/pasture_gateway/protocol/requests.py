"""What the gateway reads from a proxied request's body: the model name, the
keep_alive (Ollama routes only) and the prompt prefix. Parsed once; the body
itself is forwarded byte for byte."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..routing.keepalive import keep_alive_seconds
from ..routing.prefix import prefix_key
from .errors import MISSING_BODY, MODEL_REQUIRED, ErrorReply

OPENAI_STREAMS = frozenset({"/v1/chat/completions", "/v1/completions"})


@dataclass(frozen=True)
class Routed:
    model: str
    keep_alive: int | None
    prefix: str | None
    # The body to forward instead, when an OpenAI stream did not ask for usage:
    # the gateway asks for it (the engine's counts, for limits and audit) and
    # drops that last chunk before the client sees it (usage.strip_usage_event).
    usage_body: bytes | None = None


def parse(path: str, body: bytes) -> Routed | ErrorReply:
    if not body.strip():
        return ErrorReply(400, MISSING_BODY)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        return ErrorReply(400, str(e))
    if not isinstance(doc, dict):
        return ErrorReply(400, "json: cannot unmarshal a non-object request body")
    model = doc.get("model")
    if not isinstance(model, str) or not model.strip():
        return ErrorReply(400, MODEL_REQUIRED)
    keep_alive = keep_alive_seconds(doc.get("keep_alive")) if path.startswith("/api/") else None
    return Routed(model, keep_alive, prefix_key(doc), _usage_body(path, doc))


def _usage_body(path: str, doc: dict[str, Any]) -> bytes | None:
    if path not in OPENAI_STREAMS or doc.get("stream") is not True:
        return None
    options = doc.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        return None
    extra = options if isinstance(options, dict) else {}
    return json.dumps({**doc, "stream_options": {**extra, "include_usage": True}}).encode()

"""What the gateway reads from a proxied request's body: the model name, the
keep_alive (Ollama routes only) and the prompt prefix. Parsed once; the body
itself is forwarded byte for byte. Every proxied API names its model in the
body's `model`: Ollama's, OpenAI's (chat, completions, embeddings, Responses)
and Anthropic's Messages."""

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
    return Routed(model, keep_alive, prefix_key(_prompt_view(path, doc)), _usage_body(path, doc))


def _system_text(system: Any) -> str | None:
    """Anthropic's `system`: a string, or a list of text blocks."""
    if isinstance(system, list):
        return "".join(str(b.get("text", "")) for b in system if isinstance(b, dict)) or None
    return system if isinstance(system, str) else None


def _prompt_view(path: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The body as prefix_key reads it (system, messages, prompt): the Responses
    API's `instructions` and `input`, Anthropic's block-list `system`."""
    if path == "/v1/responses":
        given = doc.get("input")
        messages = given if isinstance(given, list) else [{"role": "user", "content": given}]
        return {"system": _system_text(doc.get("instructions")), "messages": messages}
    if path == "/v1/messages":
        return {**doc, "system": _system_text(doc.get("system"))}
    return doc


def _usage_body(path: str, doc: dict[str, Any]) -> bytes | None:
    if path not in OPENAI_STREAMS or doc.get("stream") is not True:
        return None
    options = doc.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        return None
    extra = options if isinstance(options, dict) else {}
    return json.dumps({**doc, "stream_options": {**extra, "include_usage": True}}).encode()

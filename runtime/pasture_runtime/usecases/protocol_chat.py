"""Chats that arrive in another protocol (Anthropic Messages, OpenAI
Responses): translated into the Ollama chat request they mean and prepared by
the chat use case, so names, parameters, admission and metrics are shared."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import OllamaError
from ..protocol import anthropic as a
from ..protocol import responses as r
from ..protocol.ollama import ChatRequest
from ..state import Runtime
from ..translate import anthropic_request, responses_request
from .chat import prepare_chat
from .common import LoadReply, Prepared


def _prepared(result: Prepared | LoadReply, what: str) -> Prepared:
    # No messages is Ollama's "load" request; these protocols have none.
    if isinstance(result, LoadReply):
        raise OllamaError(400, f"{what} is required")
    return result


def _chat(body: dict[str, Any]) -> ChatRequest:
    """The translated body as the chat use case takes it; a value of the wrong
    type in a block (a number for a tool name, ...) is the client's 400."""
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise OllamaError(400, f"invalid request: {where}: {first['msg']}") from None


def prepare_messages(rt: Runtime, req: a.MessagesRequest) -> Prepared:
    """POST /v1/messages: thinking is asked of a model that cannot think is
    dropped rather than refused (Ollama's relax_thinking for this API)."""
    can_think = bool(rt.config.engine.reasoning_parser)
    body = _chat(anthropic_request.chat_request(req, can_think))
    return _prepared(prepare_chat(rt, body, "/v1/messages"), "messages")


def prepare_responses(rt: Runtime, req: r.ResponsesRequest) -> Prepared:
    """POST /v1/responses."""
    body = _chat(responses_request.chat_request(req))
    return _prepared(prepare_chat(rt, body, "/v1/responses"), "input")

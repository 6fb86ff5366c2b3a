"""Anthropic Messages request body (`POST /v1/messages`), as Ollama reads it
(anthropic/anthropic.go). Content blocks stay plain dicts: the translator
(translate/anthropic_request.py) reads them by `type`, as Ollama's does."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MessageParam(_Body):
    role: str = ""
    # A string is one text block (Ollama normalises it on unmarshal).
    content: str | list[dict[str, Any]] = ""


class Tool(_Body):
    type: str | None = None  # "custom" (or absent) for a client tool; "web_search_*"
    name: str = ""
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoice(_Body):
    type: str = ""  # "auto" | "any" | "tool" | "none"
    name: str | None = None


class ThinkingConfig(_Body):
    type: str = ""  # "enabled" | "disabled" (| "adaptive")
    budget_tokens: int | None = None


class OutputConfig(_Body):
    effort: str | None = None


class MessagesRequest(_Body):
    model: str | None = None
    max_tokens: int | None = None
    messages: list[MessageParam] | None = None
    # A string or a list of text blocks.
    system: str | list[dict[str, Any]] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    metadata: dict[str, Any] | None = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (MessagesRequest,)

"""OpenAI Responses request body (`POST /v1/responses`), as Ollama reads it
(openai/responses.go). Input items stay plain dicts: the translator
(translate/responses_request.py) reads them by `type`, as Ollama's does."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Reasoning(_Body):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class ResponsesRequest(_Body):
    model: str | None = None
    # A string (one user message) or a list of items.
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    reasoning: Reasoning | None = None
    temperature: float | None = None
    top_p: float | None = None
    # {"format": {"type": "text" | "json_schema", "name", "schema", "strict"}}
    text: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    stream: bool | None = None
    truncation: str | None = None
    background: bool | None = None
    # Stateful features Pasture (like Ollama) does not keep: refused, not ignored.
    previous_response_id: str | None = None
    conversation: Any = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ResponsesRequest,)

"""Ollama request bodies (api/types.go). Unknown fields are ignored and `null`
is accepted anywhere, as Ollama's Go decoder does; empty strings mean unset."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# keep_alive: seconds as a number (negative = forever) or a Go duration string.
KeepAlive = float | str | None
# format: "json", a JSON schema object, or ""/null for free text.
Format = str | dict[str, Any] | None
# think: a boolean or an effort level ("low" | "medium" | "high").
Think = bool | str | None
# A token id of `context`: what the engine can hold (a huge or negative id
# is the client's error here, not the engine's).
TokenId = Annotated[int, Field(ge=0, lt=2**31)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ToolCallFunction(_Body):
    index: int | None = None
    name: str = ""
    arguments: dict[str, Any] | None = None


class ToolCall(_Body):
    id: str | None = None
    function: ToolCallFunction


class Message(_Body):
    role: str = ""
    content: str | None = ""
    images: list[str] | None = None
    thinking: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None  # a tool result's call (api.Message.ToolCallID)

    @field_validator("role")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class GenerateRequest(_Body):
    model: str | None = None
    prompt: str | None = None
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[TokenId] | None = None
    stream: bool | None = None
    raw: bool | None = None
    format: Format = None
    keep_alive: KeepAlive = None
    images: list[str] | None = None
    options: dict[str, Any] | None = None
    think: Think = None
    truncate: bool | None = None
    shift: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None  # 0-20: checked with Ollama's words (translate/logprobs.py)


class ChatRequest(_Body):
    model: str | None = None
    messages: list[Message] | None = None
    tools: list[dict[str, Any]] | None = None
    format: Format = None
    options: dict[str, Any] | None = None
    stream: bool | None = None
    keep_alive: KeepAlive = None
    think: Think = None
    truncate: bool | None = None
    shift: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None  # 0-20: checked with Ollama's words (translate/logprobs.py)


class EmbedRequest(_Body):
    model: str | None = None
    # A string or a list of strings; anything else is Ollama's "invalid input type".
    input: Any = None
    truncate: bool | None = None
    dimensions: int | None = None
    keep_alive: KeepAlive = None
    options: dict[str, Any] | None = None


class EmbeddingRequest(_Body):
    """The legacy single-prompt body of /api/embeddings."""

    model: str | None = None
    prompt: str | None = None
    keep_alive: KeepAlive = None
    options: dict[str, Any] | None = None


class ShowRequest(_Body):
    model: str | None = None
    name: str | None = None  # deprecated spelling, still sent by ollama-js
    verbose: bool | None = None
    system: str | None = None
    template: str | None = None
    options: dict[str, Any] | None = None


class PullRequest(_Body):
    model: str | None = None
    name: str | None = None
    insecure: bool | None = None
    stream: bool | None = None


class PushRequest(PullRequest):
    pass


class CreateRequest(_Body):
    model: str | None = None
    name: str | None = None
    from_: str | None = Field(default=None, alias="from")
    modelfile: str | None = None
    stream: bool | None = None


class CopyRequest(_Body):
    source: str | None = None
    destination: str | None = None


class DeleteRequest(_Body):
    model: str | None = None
    name: str | None = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    GenerateRequest,
    ChatRequest,
    EmbedRequest,
    EmbeddingRequest,
    ShowRequest,
    PullRequest,
    PushRequest,
    CreateRequest,
    CopyRequest,
    DeleteRequest,
)

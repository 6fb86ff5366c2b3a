"""OpenAI request bodies (chat completions, completions, embeddings).

Only the fields Pasture acts on are typed; unknown fields are ignored (SDKs
add new ones every release) and `null` is accepted, as for the Ollama bodies.
Numbers are bounded as vLLM's server bounds them: no NaN or Infinity, integers
within int64 (`seed` is a torch int64 there), token ids non-negative int32s."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
TokenId = Annotated[int, Field(ge=0, lt=2**31)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class StreamOptions(_Body):
    include_usage: bool | None = None


class ResponseFormat(_Body):
    type: str = "text"  # text | json_object | json_schema
    json_schema: dict[str, Any] | None = None  # {"name", "schema", "strict"}


class Reasoning(_Body):
    effort: str | None = None


class ChatMessage(_Body):
    role: str = ""
    # A string, or a list of parts ({"type": "text"|"image_url", ...}).
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None


class _Sampling(_Body):
    model: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: Int64 | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: Int64 | None = None  # vLLM/Ollama extension
    min_p: float | None = None  # vLLM extension
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None  # vLLM extension
    seed: Int64 | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1)
    user: str | None = None


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] | None = None
    max_completion_tokens: Int64 | None = None
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    reasoning_effort: str | None = None
    reasoning: Reasoning | None = None  # Ollama's and the Responses API's form
    logprobs: bool | None = None
    top_logprobs: int | None = None


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[TokenId] | list[list[TokenId]] | None = None
    suffix: str | None = None
    echo: bool | None = None
    logprobs: int | None = None  # the legacy form: how many alternatives per token


class EmbeddingRequest(_Body):
    model: str | None = None
    input: str | list[str] | list[TokenId] | list[list[TokenId]] | None = None
    encoding_format: str | None = None  # float | base64
    dimensions: int | None = Field(default=None, gt=0)
    user: str | None = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)

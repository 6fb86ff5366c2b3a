"""What every use case needs: the model a request names, the engine once it
is up, the values a prepared request is, and how a request ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ModelEntry
from ..engine import Engine
from ..errors import MODEL_REQUIRED, OllamaError, model_not_found
from ..identity import model_forbidden_message, permit_model
from ..state import Runtime
from ..translate.capabilities import ModelFacts, capabilities

LOADING = "model is still loading, please try again"


@dataclass
class Prepared:
    """A validated generation request, ready for the engine."""

    endpoint: str  # "generate" | "chat"
    model: str  # the name as the client sent it (echoed in responses, as Ollama does)
    prompt_ids: list[int]
    params: Any  # vllm SamplingParams (opaque above engine.py)
    stream: bool
    return_context: bool
    adapter: str | None
    received_ns: int
    # Metrics `endpoint` label: the HTTP path the request came in on.
    label: str = ""
    # Tools offered to the model and the parser that finds calls in its output
    # (both set only when the request has tools and the model has a parser).
    tools: list[dict[str, Any]] | None = None
    tool_parser: str | None = None
    # vLLM reasoning parser that splits the trace from the answer (None: no
    # split), and whether the client asked to drop the trace (`think: false`).
    reasoning_parser: str | None = None
    hide_thinking: bool = False
    # Decoded images (PIL) for a multimodal model; the prompt holds their placeholders.
    images: list[Any] | None = None


@dataclass(frozen=True)
class LoadReply:
    """The whole reply to an empty prompt or message list: Ollama's load (or
    unload) request, answered without running the engine."""

    body: dict[str, Any]


class Outcome:
    """How a request ended, read by the access-log/metrics middleware."""

    def __init__(self) -> None:
        self.aborted = False
        self.error: str | None = None
        # The engine's counts, summed over the request's engine requests (audit).
        self.prompt_tokens = 0
        self.output_tokens = 0


def resolve_model(rt: Runtime, name: str | None) -> ModelEntry:
    if not name or not name.strip():
        raise OllamaError(400, MODEL_REQUIRED)
    if not permit_model(name):  # before the lookup: the same whether it exists or not
        raise OllamaError(403, model_forbidden_message(name), code="model_forbidden")
    entry = rt.registry.lookup(name)
    if entry is None:
        raise model_not_found(name)
    return entry


def engine_of(rt: Runtime) -> Engine:
    if rt.engine is None:
        raise OllamaError(503, LOADING)
    return rt.engine


def is_multimodal(rt: Runtime) -> bool:
    """The model takes images (/api/show's "vision")."""
    return rt.engine is not None and rt.engine.max_images > 0


def model_template(rt: Runtime, entry: ModelEntry) -> str:
    """The template a model entry renders with: its own, else the model's."""
    return entry.template or (rt.engine.chat_template if rt.engine else None) or ""


def new_request_id(rt: Runtime, prefix: str) -> str:
    """A new engine request id (one per engine request, even within a list)."""
    return rt.engine.new_request_id(prefix) if rt.engine else "none"


def model_capabilities(rt: Runtime, entry: ModelEntry) -> list[str]:
    """What the model `entry` names can do: the one rule (translate/capabilities.py)
    behind /api/show, /api/tags and the refusals of what it cannot do."""
    engine = rt.config.engine
    facts = ModelFacts(
        runner=engine.runner,
        template=model_template(rt, entry),
        tool_parser=engine.tool_call_parser,
        reasoning_parser=engine.reasoning_parser,
        multimodal=is_multimodal(rt),
    )
    return capabilities(facts)

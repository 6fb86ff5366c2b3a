"""Embedding use-cases (/api/embed, /api/embeddings, /v1/embeddings) between
the routers and the engine: validate, tokenize and fit the inputs, run them
under the same admission control as generation, shape the vectors."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import fanout
from ..admission import Slot, Ticket
from ..engine_types import EngineBadRequest, Pooled
from ..errors import OllamaError
from ..state import Runtime
from ..translate import embed as emb
from ..translate import options as opt
from .common import Outcome, engine_of, resolve_model


@dataclass
class EmbedJob:
    """A validated embedding request: one token list per input."""

    model: str  # as the client sent it (echoed back)
    inputs: list[list[int]]
    dimensions: int | None
    adapter: str | None
    received_ns: int
    label: str


@dataclass(frozen=True)
class EmbedResult:
    vectors: list[list[float]]
    prompt_tokens: int
    total_ns: int
    load_ns: int


def check_embedding_model(rt: Runtime, model: str) -> None:
    """Only a pooling engine embeds; generation models get Ollama's
    capability error (CheckCapabilities' wording for the embedding capability)."""
    if rt.config.engine.runner != "pooling":
        raise OllamaError(400, f"{model} does not support embedding")


def prepare(
    rt: Runtime,
    name: str | None,
    inputs: list[emb.EmbedInput],
    truncate: bool | None,
    dimensions: int | None,
    options: dict[str, object] | None,
    label: str,
) -> EmbedJob:
    received = time.monotonic_ns()
    entry = resolve_model(rt, name)
    model = name or entry.name
    check_embedding_model(rt, model)
    if dimensions is not None and dimensions < 0:
        raise OllamaError(400, "dimensions must be a positive integer")
    effective = opt.effective_options(entry.parameters, options)  # validates types
    engine = engine_of(rt)
    num_ctx = effective.get("num_ctx")
    limit = engine.max_model_len
    if isinstance(num_ctx, int) and num_ctx > 0:
        limit = min(limit, num_ctx)
    token_lists = []
    for item in inputs:
        ids = item if isinstance(item, list) else engine.encode(item, add_special_tokens=True)
        token_lists.append(emb.fit(ids, limit, truncate is not False))
    return EmbedJob(
        model=model,
        inputs=token_lists,
        dimensions=dimensions or None,
        adapter=entry.adapter.path if entry.adapter else None,
        received_ns=received,
        label=label,
    )


async def run(
    rt: Runtime, job: EmbedJob, tickets: list[Ticket], request_id: str, outcome: Outcome
) -> EmbedResult:
    """Embed every input of an admitted job: one engine request per input,
    each under a ticket (concurrently up to the tickets held: the engine
    batches them). Cancelling this aborts the engine requests; every ticket
    is released when this returns or raises."""
    engine = engine_of(rt)
    started: list[int] = []  # when the first input got a running slot

    async def one(i: int, slot: Slot) -> Pooled:
        await slot.wait()
        started.append(time.monotonic_ns())
        return await engine.embed(job.inputs[i], f"{request_id}-{i}", job.adapter)

    try:
        pooled = await fanout.on_tickets(tickets, len(job.inputs), one)
    except EngineBadRequest as e:
        outcome.error = str(e)
        raise OllamaError(400, str(e)) from None
    vectors = [emb.shape(p.vector, job.dimensions) for p in pooled]
    tokens = sum(p.prompt_tokens for p in pooled)
    outcome.prompt_tokens += tokens
    rt.metrics.prompt_tokens.labels(model=rt.model_label, endpoint=job.label).inc(tokens)
    first = min(started, default=time.monotonic_ns())
    return EmbedResult(
        vectors=vectors,
        prompt_tokens=tokens,
        total_ns=time.monotonic_ns() - job.received_ns,
        # No model load per request: the time spent waiting for admission.
        load_ns=first - job.received_ns,
    )

"""Running one admitted generation: engine Deltas in, Ollama chunks out.

ChunkStream is the loop's logic (reasoning split, streamed tool calls, what
is held back to the end, the final object): engine-free, its parsers come in
as arguments, so it is unit-tested with fake deltas. `run` drives it with the
engine's Deltas under admission, with the per-token metrics."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from ..admission import Slot
from ..engine import Engine
from ..engine_types import Delta, EngineBadRequest
from ..errors import OllamaError
from ..state import Runtime
from ..translate import logprobs as lp
from ..translate import responses as rsp
from ..translate import thinking as think
from ..translate import tool_calls
from ..translate.tool_stream import Call
from .common import Outcome, Prepared, engine_of

Chunk = dict[str, Any]
# A tool call as vLLM's parsers give it: (call id, function name, arguments JSON).
Found = tuple[str | None, str, str]


class CallsStream(Protocol):
    """A streaming tool-call parser (tool_parsing.ToolCallStream)."""

    def feed(
        self, text: str, token_ids: list[int], final: bool = False
    ) -> tuple[str, list[Call]]: ...

    def finish(self) -> tuple[str, list[Call]]: ...


class ChunkStream:
    """One request's Deltas -> its Ollama chunks. `feed` every Delta and send
    the chunk it returns, if any (streaming only); `finish` gives the chunks
    that end the reply: what was held back (streaming), then the final object.

    With a reasoning `splitter` the trace streams as `thinking`; with `calls`
    (a streaming tool parser) the answer goes through it, content streams and
    each call is sent once whole. Not streamed, the whole text is split by
    `split_reasoning` and parsed by `parse_calls` at the end."""

    def __init__(
        self,
        model: str,
        chat: bool,
        stream: bool,
        *,
        hide_thinking: bool = False,
        splitter: think.StreamSplitter | None = None,
        calls: CallsStream | None = None,
        split_reasoning: Callable[[str], tuple[str, str]] | None = None,
        parse_calls: Callable[[str], tuple[str | None, list[Found]]] | None = None,
        context: list[int] | None = None,
    ) -> None:
        self.model = model
        self.chat = chat
        self.stream = stream
        self.hide_thinking = hide_thinking
        self._splitter = splitter
        self._calls = calls
        self._split_reasoning = split_reasoning
        self._parse_calls = parse_calls
        self._context = context  # the prompt's ids: `context` of a generate reply
        self._texts: list[str] = []  # the output, when not streamed
        self.out_ids: list[int] = []
        self._sent_calls = 0  # calls already streamed: `index` counts across the message
        # Ollama-shaped logprobs not yet sent: they go with the next chunk.
        self._logprobs: list[dict[str, Any]] = []

    def feed(self, d: Delta) -> Chunk | None:
        """The chunk to send for one Delta, or None (nothing to send yet)."""
        self._logprobs.extend(lp.ollama_logprobs(d.logprobs))
        chunk = self._feed(d)
        if chunk is None and self.stream and self._logprobs and not d.finished:
            # As Ollama: logprobs are sent even while the text is held back
            # (a parser buffering a possible tool call or marker).
            chunk = self._chunk("", "", [])
        return self._with_logprobs(chunk) if chunk is not None else None

    def _with_logprobs(self, chunk: Chunk) -> Chunk:
        if self._logprobs:
            chunk["logprobs"], self._logprobs = self._logprobs, []
        return chunk

    def _feed(self, d: Delta) -> Chunk | None:
        self.out_ids.extend(d.token_ids)
        if not (self.stream and (d.text or self._calls is not None)):
            self._texts.append(d.text)
            return None
        splitter = self._splitter
        thinking, content = splitter.feed(d.text) if splitter else ("", d.text)
        completed: list[Call] = []
        # The tool parser sees the answer's deltas (with their token ids, even
        # when they decode to no text yet: some parsers go by token ids), never
        # the trace's, and always the last one.
        answering = splitter is None or not splitter.in_thinking
        if self._calls is not None and (content or d.finished or (answering and d.token_ids)):
            ids = d.token_ids if answering else []
            content, completed = self._calls.feed(content, ids, d.finished)
        if content or completed or (thinking and not self.hide_thinking):
            return self._chunk(content, thinking, completed)
        return None

    def _chunk(self, text: str, thinking: str, found: list[Call]) -> Chunk:
        thinking = "" if self.hide_thinking else thinking
        if not self.chat:
            return rsp.generate_chunk(self.model, text, thinking)
        calls = None
        if found:
            calls = tool_calls.ollama_tool_calls([c.astuple() for c in found], self._sent_calls)
            self._sent_calls += len(calls)
        return rsp.chat_chunk(self.model, text, calls, thinking)

    def finish(self, reason: str, metrics: dict[str, int]) -> list[Chunk]:
        """The chunks that end the reply: Ollama's `done_reason` and metrics
        (the final object carries the logprobs not sent yet: all of them when
        not streamed, as Ollama collects them)."""
        out = self._finish(reason, metrics)
        self._with_logprobs(out[-1])
        return out

    def _finish(self, reason: str, metrics: dict[str, int]) -> list[Chunk]:
        text = "" if self.stream else "".join(self._texts)
        thinking = ""
        if self._splitter is not None:
            thinking, text = self._splitter.flush()  # a held-back partial marker, if any
        elif self._split_reasoning is not None and text:
            thinking, text = self._split_reasoning(text)
        if self.hide_thinking:
            thinking = ""
        if self.chat:
            return self._chat_end(text, thinking, reason, metrics)
        context = self._context + self.out_ids if self._context is not None else None
        out = []
        if self.stream and (text or thinking):  # what was held back, as one chunk
            out.append(rsp.generate_chunk(self.model, text, thinking))
            text, thinking = "", ""
        out.append(rsp.generate_final(self.model, text, reason, metrics, context, thinking))
        return out

    def _chat_end(
        self, text: str, thinking: str, reason: str, metrics: dict[str, int]
    ) -> list[Chunk]:
        calls: list[dict[str, Any]] = []
        if self._calls is not None:  # what the parser held back to the end
            rest, remaining = self._calls.finish()
            text += rest
            found = [c.astuple() for c in remaining]
            calls = tool_calls.ollama_tool_calls(found, self._sent_calls)
        elif self._parse_calls is not None:
            left, parsed = self._parse_calls(text)
            text, calls = left or "", tool_calls.ollama_tool_calls(parsed)
        out = []
        if self.stream and (text or calls or thinking):  # what was held back, as one chunk
            out.append(rsp.chat_chunk(self.model, text, calls, thinking))
            text, calls, thinking = "", [], ""
        out.append(rsp.chat_final(self.model, text, reason, metrics, calls, thinking))
        return out


def chunk_stream(engine: Engine, prep: Prepared) -> ChunkStream:
    """The ChunkStream of one prepared request, with the engine's parsers."""
    chat = prep.endpoint == "chat"
    reasoning, tools, parser = prep.reasoning_parser, prep.tools, prep.tool_parser
    splitter = split = calls = parse = None
    if reasoning:
        split = functools.partial(engine.split_reasoning, reasoning)
        if prep.stream:
            splitter = think.StreamSplitter(*engine.reasoning_markers(reasoning))
    if chat and parser and tools:
        parse = functools.partial(engine.parse_tool_calls, parser, tools=tools)
        if prep.stream:
            calls = engine.tool_call_stream(parser, tools, prep.prompt_ids)
    return ChunkStream(
        prep.model, chat, prep.stream,
        hide_thinking=prep.hide_thinking, splitter=splitter, calls=calls,
        split_reasoning=split, parse_calls=parse,
        context=prep.prompt_ids if prep.return_context else None,
    )  # fmt: skip


class TokenMeter:
    """The per-token metrics of one stream (time to first token, inter-token
    latency, tokens out) and the admission's progress mark (the stall probes)."""

    def __init__(self, rt: Runtime, labels: dict[str, str], received_ns: int) -> None:
        m = rt.metrics
        # Labelled children looked up once: the per-token path only observes.
        self._ttft, self._itl = m.ttft.labels(**labels), m.itl.labels(**labels)
        # Counted as tokens stream (not at the end): the stall alert and
        # dashboards see a long stream progressing.
        self._produced = m.output_tokens.labels(**labels)
        self._admission = rt.admission
        self._received = received_ns / 1e9
        self._first_at: float | None = None
        self._prev_at = 0.0

    def observe(self, token_ids: list[int]) -> None:
        if not token_ids:
            return
        now = time.monotonic()
        if self._admission is not None:
            self._admission.progress()
        if self._first_at is None:
            self._first_at = now
            self._ttft.observe(now - self._received)
        else:
            gap = (now - self._prev_at) / len(token_ids)
            for _ in token_ids:
                self._itl.observe(gap)
        self._prev_at = now
        self._produced.inc(len(token_ids))


async def run(
    rt: Runtime, prep: Prepared, ticket: Slot, request_id: str, outcome: Outcome
) -> AsyncGenerator[Chunk, None]:
    """Run one admitted request; yield Ollama chunks (streaming) or just the
    final object (non-streaming). Always releases the admission ticket; closing
    this iterator early (client gone) aborts the engine request."""
    engine = engine_of(rt)
    # Same endpoint label as the middleware's request counters.
    labels = {"model": rt.model_label, "endpoint": prep.label}
    meter = TokenMeter(rt, labels, prep.received_ns)
    chunks = chunk_stream(engine, prep)
    last = None
    try:
        await ticket.wait()
        async for d in engine.generate(
            prep.prompt_ids, prep.params, request_id, prep.adapter, prep.images
        ):
            meter.observe(d.token_ids)
            chunk = chunks.feed(d)
            if chunk is not None:
                yield chunk
            last = d
    except EngineBadRequest as e:
        outcome.error = str(e)
        raise OllamaError(400, str(e)) from None
    except Exception as e:
        outcome.error = f"{type(e).__name__}: {e}"
        raise
    except BaseException:  # CancelledError / GeneratorExit: client gone
        outcome.aborted = True
        rt.metrics.aborted.labels(reason="client_disconnect", **labels).inc()
        raise
    finally:
        ticket.release()
    metrics = _final_metrics(rt, prep, last, len(chunks.out_ids), outcome, labels)
    for chunk in chunks.finish(rsp.done_reason(last.finish_reason if last else None), metrics):
        yield chunk


def _final_metrics(
    rt: Runtime,
    prep: Prepared,
    last: Delta | None,
    output_tokens: int,
    outcome: Outcome,
    labels: dict[str, str],
) -> dict[str, int]:
    """Ollama's final metrics of a finished request (counted in ours too); an
    error when it did not finish."""
    if last is None:
        raise OllamaError(500, "engine returned no output")
    if last.finish_reason == "abort":
        # Aborted by us (drain timeout), not by the client: say so on the wire.
        outcome.error = "aborted"
        raise OllamaError(503, "request aborted: the server is shutting down")
    # The engine's count: with images, placeholders expanded into image tokens.
    prompt_tokens = last.prompt_tokens or len(prep.prompt_ids)
    rt.metrics.prompt_tokens.labels(**labels).inc(prompt_tokens)
    outcome.prompt_tokens += prompt_tokens
    outcome.output_tokens += output_tokens
    timings = rsp.Timings(
        received_ns=prep.received_ns,
        finished_ns=time.monotonic_ns(),
        queued_ts=last.queued_ts,
        scheduled_ts=last.scheduled_ts,
        first_token_ts=last.first_token_ts,
        last_token_ts=last.last_token_ts,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
    )
    return rsp.final_metrics(timings)

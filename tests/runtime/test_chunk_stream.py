"""ChunkStream, the streaming loop's logic, with fake Deltas: no engine.

The engine-backed tests (test_ollama_api.py, test_structured_tools.py,
test_thinking.py) cover the same paths end to end."""

from __future__ import annotations

from typing import Any

from pasture_runtime.engine_types import Delta
from pasture_runtime.translate.thinking import StreamSplitter
from pasture_runtime.translate.tool_stream import Call
from pasture_runtime.usecases.stream import ChunkStream

METRICS = {"eval_count": 3}


def _d(text: str, ids: list[int], finished: bool = False) -> Delta:
    return Delta(text, ids, finished, "stop" if finished else None)


def _bare(chunk: dict[str, Any] | None) -> dict[str, Any] | None:
    """A chunk without its timestamp (the one impure field)."""
    if chunk is None:
        return None
    return {k: v for k, v in chunk.items() if k != "created_at"}


def _run(stream: ChunkStream, deltas: list[Delta]) -> list[dict[str, Any] | None]:
    out = [_bare(stream.feed(d)) for d in deltas]
    return out + [_bare(c) for c in stream.finish("stop", METRICS)]


DELTAS = [_d("Hel", [1]), _d("", [2]), _d("lo", [3], finished=True)]


def test_generate_not_streamed_is_one_final_object_with_context() -> None:
    stream = ChunkStream("m", chat=False, stream=False, context=[7, 8])
    assert _run(stream, DELTAS) == [
        None,
        None,
        None,
        {"model": "m", "response": "Hello", "done": True, "done_reason": "stop",
         "context": [7, 8, 1, 2, 3], **METRICS},
    ]  # fmt: skip


def test_generate_streamed_sends_text_as_it_comes_and_skips_empty_deltas() -> None:
    stream = ChunkStream("m", chat=False, stream=True)
    assert _run(stream, DELTAS) == [
        {"model": "m", "response": "Hel", "done": False},
        None,
        {"model": "m", "response": "lo", "done": False},
        {"model": "m", "response": "", "done": True, "done_reason": "stop", **METRICS},
    ]


def _message(content: str, **more: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, **more}


THINKING = [_d("<think>hm", [1]), _d("m</think>Hi", [2]), _d(" there", [3], finished=True)]


def test_chat_streamed_splits_the_trace_from_the_answer() -> None:
    stream = ChunkStream(
        "m", chat=True, stream=True, splitter=StreamSplitter("<think>", "</think>")
    )
    out = _run(stream, THINKING)
    assert [c and c["message"] for c in out] == [
        _message("", thinking="hm"),
        _message("Hi", thinking="m"),
        _message(" there"),
        _message(""),
    ]
    assert out[-1] is not None
    assert out[-1]["done"] is True


def test_chat_streamed_hides_the_trace_with_think_false() -> None:
    splitter = StreamSplitter("<think>", "</think>")
    stream = ChunkStream("m", chat=True, stream=True, hide_thinking=True, splitter=splitter)
    out = _run(stream, THINKING)
    assert [c and c["message"] for c in out] == [
        None,
        _message("Hi"),
        _message(" there"),
        _message(""),
    ]


def test_chat_not_streamed_splits_and_parses_the_whole_text_at_the_end() -> None:
    def split(text: str) -> tuple[str, str]:
        return text.split("|", 1)[0], text.split("|", 1)[1]

    def parse(text: str) -> tuple[str | None, list[tuple[str | None, str, str]]]:
        return text.replace("CALL", ""), [(None, "f", '{"a": 1}')]

    stream = ChunkStream("m", chat=True, stream=False, split_reasoning=split, parse_calls=parse)
    out = _run(stream, [_d("why|", [1]), _d("okCALL", [2], finished=True)])
    calls = [{"id": "call_0", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}]
    assert out[:2] == [None, None]
    assert out[2] == {
        "model": "m", "message": _message("ok", thinking="why", tool_calls=calls),
        "done": True, "done_reason": "stop", **METRICS,
    }  # fmt: skip


class FakeCalls:
    """A streaming tool parser: `CALL` in the text is a call, the rest content;
    one more call is held back to the end."""

    def __init__(self) -> None:
        self.fed: list[tuple[str, list[int], bool]] = []

    def feed(self, text: str, token_ids: list[int], final: bool = False) -> tuple[str, list[Call]]:
        self.fed.append((text, token_ids, final))
        if "CALL" in text:
            return text.replace("CALL", ""), [Call("c1", "f", "{}")]
        return text, []

    def finish(self) -> tuple[str, list[Call]]:
        return "!", [Call(None, "g", '{"b": 2}')]


def test_chat_streamed_tool_calls_are_sent_whole_and_numbered_across_the_message() -> None:
    calls = FakeCalls()
    stream = ChunkStream("m", chat=True, stream=True, calls=calls)
    out = _run(stream, [_d("Hi", [1]), _d("", [2]), _d("CALL", [3], finished=True)])
    first = {"id": "c1", "function": {"index": 0, "name": "f", "arguments": {}}}
    held = {"id": "call_1", "function": {"index": 1, "name": "g", "arguments": {"b": 2}}}
    assert [c and c["message"] for c in out] == [
        _message("Hi"),
        None,  # an empty delta reaches the parser (its token ids may matter), sends nothing
        _message("", tool_calls=[first]),
        _message("!", tool_calls=[held]),  # what the parser held back, as one chunk
        _message(""),
    ]
    assert calls.fed == [("Hi", [1], False), ("", [2], False), ("CALL", [3], True)]


def test_the_tool_parser_never_sees_the_trace() -> None:
    calls = FakeCalls()
    splitter = StreamSplitter("<think>", "</think>")
    stream = ChunkStream("m", chat=True, stream=True, splitter=splitter, calls=calls)
    _run(stream, [_d("<think>CALL", [1]), _d("</think>ok", [2], finished=True)])
    assert calls.fed == [("ok", [2], True)]


def test_same_deltas_same_chunks() -> None:
    def once() -> list[dict[str, Any] | None]:
        splitter = StreamSplitter("<think>", "</think>")
        return _run(ChunkStream("m", chat=True, stream=True, splitter=splitter), THINKING)

    assert once() == once()

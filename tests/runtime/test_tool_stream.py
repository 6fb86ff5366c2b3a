"""Streamed tool calls, without an engine.

- the pure part: DeltaToolCall fragments joined into whole calls, and the
  end-of-stream reconciliation with the whole-text parse;
- vLLM's real parsers (`xlam`, the one the engine tests configure, and
  `hermes`) on recorded model text fed in small pieces, the way the engine
  streams it, against the whole-text parse a non-streaming request gets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pasture_runtime import tool_parsing as tp
from pasture_runtime.tool_parsing import ToolCallStream, parse_tool_calls
from pasture_runtime.translate import openai_response as to_openai
from pasture_runtime.translate.tool_calls import ollama_tool_calls
from pasture_runtime.translate.tool_stream import Call, CallAccumulator, reconcile
from tests.runtime.tool_defs import TIME, WEATHER

# vLLM's own parsers and tokenizers: the vllm tier (tests/fixtures/tiers.py).
pytestmark = pytest.mark.vllm

TOOLS = [WEATHER, TIME]


# ---- pure: fragments -> calls


def test_fragments_join_per_index_and_complete_when_the_next_starts() -> None:
    acc = CallAccumulator()
    assert acc.add([(0, "call_a", "get_weather", None)]) == []
    assert acc.add([(0, None, None, '{"city": ')]) == []
    assert acc.add([(0, None, None, '"Paris"}')]) == []
    assert acc.pending() == [Call("call_a", "get_weather", '{"city": "Paris"}')]
    # A later index starting completes the earlier call, in the same delta.
    done = acc.add([(1, "call_b", "get_", None), (1, None, "time", "{}")])
    assert done == [Call("call_a", "get_weather", '{"city": "Paris"}')]
    # More for a call already handed out cannot change it: ignored.
    assert acc.add([(0, None, None, "garbage")]) == []
    assert acc.finish() == [Call("call_b", "get_time", "{}")]
    assert acc.finish() == []
    assert acc.pending() == []
    assert [c.name for c in acc.emitted] == ["get_weather", "get_time"]


def test_several_calls_in_one_delta_come_out_in_order() -> None:
    acc = CallAccumulator()
    done = acc.add([(2, "c", "x", "{}"), (0, "a", "y", "{}"), (1, "b", "z", "{}")])
    assert [c.id for c in done] == ["a", "b"]
    assert [c.id for c in acc.finish()] == ["c"]


def test_reconcile_follows_the_whole_text_parse_where_it_agrees() -> None:
    a, b = Call("1", "get_weather", '{"city": "Oslo"}'), Call("2", "get_time", "{}")
    partial_b = Call("s2", "get_time", "{")
    # Nothing sent yet: the whole-text parse decides everything still to send.
    assert reconcile("", [], [partial_b], "", [a, b]) == ("", [a, b])
    # The first call was sent: the rest of the whole-text calls.
    assert reconcile("Sure. ", [a], [partial_b], "Sure. ", [a, b]) == ("", [b])
    # Content the streaming parser held back (a tail, or after it failed).
    assert reconcile("Hel", [], [], "Hello <tool", []) == ("lo <tool", [])
    # Disagreement on what was sent: the streaming parser's own open calls.
    assert reconcile("", [b], [partial_b], "", [a, b]) == ("", [partial_b])
    assert reconcile("x", [], [], "y", []) == ("", [])


def test_ollama_indices_count_across_the_message() -> None:
    calls = ollama_tool_calls([("id9", "f", '{"a": 1}'), (None, "g", "")], start=2)
    assert calls == [
        {"id": "id9", "function": {"index": 2, "name": "f", "arguments": {"a": 1}}},
        {"id": "call_3", "function": {"index": 3, "name": "g", "arguments": {}}},
    ]


def test_openai_stream_delta_index_is_the_calls_place_in_the_message() -> None:
    chunk = {"message": {"role": "assistant", "content": "", "tool_calls": ollama_tool_calls(
        [("call_x", "get_time", '{"zone": "UTC"}')], start=1
    )}, "done": False}  # fmt: skip
    delta = to_openai.chat_delta(chunk)
    assert delta["tool_calls"] == [
        {
            "id": "call_x",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"zone": "UTC"}'},
            "index": 1,
        }
    ]
    assert "content" not in delta


# ---- vLLM's parsers: streamed in pieces == parsed whole


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    """The tiny model's tokenizer, loaded as vLLM's engine loads it."""
    from vllm.tokenizers import get_tokenizer

    return get_tokenizer(str(tiny_model_dir))


EOS = 2


def token_deltas(tokenizer: Any, text: str) -> Iterator[tuple[str, list[int]]]:
    """(delta text, delta ids) one token at a time, as the engine detokenizes."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    previous = ""
    for i in range(len(ids)):
        current = tokenizer.decode(ids[: i + 1])
        yield current[len(previous) :], [ids[i]]
        previous = current
    assert previous == text


def pieces(tokenizer: Any, text: str, how: str) -> list[tuple[str, list[int], bool]]:
    """The deltas of one output; the last has the engine's `finished` flag."""
    if how == "tokens+eos":  # stopped by EOS: a last delta with no text
        out = [(t, ids, False) for t, ids in token_deltas(tokenizer, text)]
        return [*out, ("", [EOS], True)]
    if how == "tokens":  # stopped by a stop string or the length limit
        out = [(t, ids, False) for t, ids in token_deltas(tokenizer, text)]
        return [*out[:-1], (out[-1][0], out[-1][1], True)]
    if how == "chars3":
        out = [(text[i : i + 3], [], False) for i in range(0, len(text), 3)]
        return [*out, ("", [EOS], True)]
    assert how == "whole"
    return [(text, tokenizer.encode(text, add_special_tokens=False), True)]


Parsed = tuple[str, list[tuple[str, dict[str, Any]]]]


def _calls(found: list[tuple[str | None, str, str]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, json.loads(args)) for _, name, args in found]


def whole(tokenizer: Any, parser: str, text: str) -> Parsed:
    left, found = parse_tool_calls(parser, tokenizer, text, TOOLS)
    return left or "", _calls(found)


class Streamed:
    """One output through ToolCallStream: what came out while it streamed
    (from `feed`) and what came out at the end (from `finish`)."""

    def __init__(self, tokenizer: Any, parser: str, text: str, how: str) -> None:
        stream = ToolCallStream(parser, tokenizer, TOOLS, prompt_ids=[1, 5, 6])
        self.streamed_content = ""
        self.streamed_calls: list[Call] = []
        self.chunks = 0  # deltas that gave something to send
        for delta, ids, final in pieces(tokenizer, text, how):
            content, calls = stream.feed(delta, ids, final)
            self.streamed_content += content
            self.streamed_calls += calls
            self.chunks += bool(content or calls)
        self.rest, self.last_calls = stream.finish()

    def result(self) -> Parsed:
        found = [c.astuple() for c in self.streamed_calls + self.last_calls]
        return self.streamed_content + self.rest, _calls(found)


def _call(name: str, args: dict[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": args})


HERMES_ONE = f"<tool_call>\n{_call('get_weather', {'city': 'Paris'})}\n</tool_call>"
HERMES_TWO = (
    f"<tool_call>\n{_call('get_weather', {'city': 'Oslo'})}\n</tool_call>\n"
    f"<tool_call>\n{_call('get_time', {'zone': 'Europe/Oslo'})}\n</tool_call>"
)
XLAM_ONE = '[{"name":"get_weather","arguments":{"city":"Oslo"}}]'
XLAM_TWO = (
    '[{"name":"get_weather","arguments":{"city":"Paris"}},'
    '{"name":"get_time","arguments":{"zone":"UTC"}}]'
)
RECORDED = [
    # (parser, model text, content, [(name, arguments)])
    ("hermes", "Sure. " + HERMES_ONE, "Sure. ", [("get_weather", {"city": "Paris"})]),
    ("hermes", HERMES_ONE, "", [("get_weather", {"city": "Paris"})]),
    (
        "hermes",
        "Let me check both.\n" + HERMES_TWO,
        "Let me check both.\n",
        [("get_weather", {"city": "Oslo"}), ("get_time", {"zone": "Europe/Oslo"})],
    ),
    ("hermes", "no call here, just words.", "no call here, just words.", []),
    ("xlam", XLAM_ONE, "", [("get_weather", {"city": "Oslo"})]),
    (
        "xlam",
        XLAM_TWO,
        "",
        [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "UTC"})],
    ),
    ("xlam", "The quick brown fox.", "The quick brown fox.", []),
]
HOW = ["tokens+eos", "tokens", "chars3", "whole"]


@pytest.mark.parametrize(("parser", "text", "content", "calls"), RECORDED)
def test_whole_text_parse_of_recorded_text(
    tokenizer: Any, parser: str, text: str, content: str, calls: list[Any]
) -> None:
    assert whole(tokenizer, parser, text) == (content, calls)


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("parser", "text", "content", "calls"), RECORDED)
def test_streamed_in_pieces_equals_the_whole_text_parse(
    tokenizer: Any, parser: str, text: str, content: str, calls: list[Any], how: str
) -> None:
    got = Streamed(tokenizer, parser, text, how)
    assert got.result() == whole(tokenizer, parser, text) == (content, calls)
    indexed = got.streamed_calls + got.last_calls
    assert all(c.id for c in indexed)


@pytest.mark.parametrize(("parser", "text", "content", "calls"), RECORDED)
def test_content_and_calls_go_out_while_streaming(
    tokenizer: Any, parser: str, text: str, content: str, calls: list[Any]
) -> None:
    """Token by token: content before a call streams (not held to the end),
    and a call is out as soon as the next one starts."""
    got = Streamed(tokenizer, parser, text, "tokens+eos")
    assert got.streamed_content == content
    assert got.rest == ""
    if not calls:
        assert got.chunks > 3  # streamed, not one held-back chunk
    assert [c.name for c in got.streamed_calls] == [name for name, _ in calls[:-1]]
    assert [c.name for c in got.last_calls] == [name for name, _ in calls[-1:]]


def test_a_partial_tool_tag_at_the_end_is_content(tokenizer: Any) -> None:
    """hermes holds back what may start `<tool_call>`; at the end it is content."""
    got = Streamed(tokenizer, "hermes", "see <tool_c", "tokens+eos")
    assert got.streamed_content == "see "
    assert got.rest == "<tool_c"
    assert got.result() == whole(tokenizer, "hermes", "see <tool_c") == ("see <tool_c", [])


def test_a_call_cut_off_by_the_length_limit_is_content(tokenizer: Any) -> None:
    """As the whole-text parse: unparseable call text stays the model's text."""
    text = 'Sure. <tool_call>\n{"name": "get_weather", "arguments": {"ci'
    got = Streamed(tokenizer, "hermes", text, "tokens")
    assert got.result() == whole(tokenizer, "hermes", text) == (text, [])


def test_a_failing_streaming_parser_loses_nothing(
    tokenizer: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The parser raising mid-stream: logged, the rest held back and parsed
    whole at the end (no exception, nothing lost)."""
    real = tp._tool_parser_class("hermes")

    class Flaky(real):  # type: ignore[misc, valid-type]
        calls = 0

        def parse_delta(self, *args: Any, **kwargs: Any) -> Any:
            Flaky.calls += 1
            if Flaky.calls > 3:
                raise RuntimeError("parser bug")
            return super().parse_delta(*args, **kwargs)

    monkeypatch.setattr(tp, "_tool_parser_class", lambda name: Flaky)
    text = "Sure thing. " + HERMES_TWO
    with caplog.at_level(logging.ERROR, logger="pasture_runtime.tool_parsing"):
        got = Streamed(tokenizer, "hermes", text, "tokens+eos")
    assert "streaming tool parser hermes failed" in caplog.text
    assert got.streamed_content
    assert text.startswith(got.streamed_content)
    assert len(got.streamed_content) < len("Sure thing. ")
    assert got.result() == whole(tokenizer, "hermes", text)
    assert len(got.result()[1]) == 2


def test_an_unknown_parser_gives_the_text_as_content(tokenizer: Any) -> None:
    got = Streamed(tokenizer, "no-such-parser", XLAM_ONE, "tokens+eos")
    assert got.result() == (XLAM_ONE, [])
    assert got.streamed_content == ""

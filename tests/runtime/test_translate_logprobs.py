"""Logprobs without an engine: the request check (Ollama's words), the shapes
(Ollama's api.Logprob, OpenAI's chat and legacy completion forms) and how the
streaming loop hands them out (with the chunk they belong to, never lost)."""

from __future__ import annotations

import pytest

from pasture_runtime.engine_types import Delta, Logprob, TokenLogprob
from pasture_runtime.errors import OllamaError
from pasture_runtime.translate import logprobs as lp
from pasture_runtime.usecases.stream import ChunkStream


@pytest.mark.parametrize(
    ("logprobs", "top", "want"),
    [(None, None, None), (False, 5, None), (True, None, 0), (True, 0, 0), (True, 20, 20)],
)
def test_requested(logprobs: bool | None, top: int | None, want: int | None) -> None:
    assert lp.requested(logprobs, top) == want


@pytest.mark.parametrize("top", [-1, 21, 1000])
def test_top_logprobs_out_of_range_is_ollamas_400(top: int) -> None:
    for logprobs in (True, False, None):
        with pytest.raises(OllamaError) as e:
            lp.requested(logprobs, top)
        assert (e.value.status, e.value.message) == (400, "top_logprobs must be between 0 and 20")


HI = Logprob("hé", -0.5, (TokenLogprob("hé", -0.5), TokenLogprob("", -1.25)))
OLLAMA_HI = {
    "token": "hé",
    "logprob": -0.5,
    "bytes": [104, 195, 169],
    "top_logprobs": [{"token": "hé", "logprob": -0.5, "bytes": [104, 195, 169]},
                     {"token": "", "logprob": -1.25}],
}  # fmt: skip


def test_ollama_shape_bytes_as_ollama_and_top_omitted_when_empty() -> None:
    assert lp.ollama_logprobs([HI, Logprob("x", -2.0)]) == [
        OLLAMA_HI,
        {"token": "x", "logprob": -2.0, "bytes": [120]},
    ]


def test_openai_shapes() -> None:
    items = lp.ollama_logprobs([HI, Logprob("x", -2.0)])
    chat = lp.openai_chat_logprobs(items)
    assert chat is not None
    assert chat["content"][1]["top_logprobs"] == []
    text = lp.openai_text_logprobs(items)
    assert text is not None
    assert text["tokens"] == ["hé", "x"]
    assert text["token_logprobs"] == [-0.5, -2.0]
    assert text["top_logprobs"] == [{"hé": -0.5, "": -1.25}, {}]
    assert text["text_offset"] == [0, 2]
    assert lp.openai_chat_logprobs(None) is None
    assert lp.openai_text_logprobs([]) is None


def _d(text: str, ids: list[int], lps: tuple[Logprob, ...], finished: bool = False) -> Delta:
    return Delta(text, ids, finished, "stop" if finished else None, logprobs=lps)


A, B, C = Logprob("a", -1.0), Logprob("b", -2.0), Logprob("c", -3.0)


def test_streamed_chunks_carry_their_tokens_logprobs_even_with_no_text() -> None:
    stream = ChunkStream("m", chat=True, stream=True)
    first = stream.feed(_d("a", [1], (A,)))
    empty = stream.feed(_d("", [2], (B,)))  # no text yet: still sent, as Ollama
    last = stream.feed(_d("c", [3], (C,), finished=True))
    final = stream.finish("stop", {})[-1]
    got = [c and [x["token"] for x in c.get("logprobs", [])] for c in (first, empty, last, final)]
    assert got == [["a"], ["b"], ["c"], []]
    assert empty is not None
    assert empty["message"]["content"] == ""


def test_not_streamed_the_final_object_has_them_all() -> None:
    stream = ChunkStream("m", chat=False, stream=False)
    for d in (_d("a", [1], (A,)), _d("b", [2], (B,)), _d("c", [3], (C,), finished=True)):
        assert stream.feed(d) is None
    final = stream.finish("stop", {})[-1]
    assert [x["token"] for x in final["logprobs"]] == ["a", "b", "c"]


def test_no_logprobs_asked_no_key() -> None:
    stream = ChunkStream("m", chat=False, stream=True)
    assert "logprobs" not in (stream.feed(_d("a", [1], ())) or {})
    assert "logprobs" not in stream.finish("stop", {})[-1]

"""translate/embed.py: inputs, fitting, normalisation and the response shapes (pure)."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import pytest

from pasture_runtime.errors import OllamaError
from pasture_runtime.protocol.openai import EmbeddingRequest
from pasture_runtime.translate import embed as emb


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (None, []),
        ("", []),
        ("hi", ["hi"]),
        (["a", "b"], ["a", "b"]),
        ([], []),
    ],
)
def test_ollama_inputs(raw: Any, want: list[str]) -> None:
    assert emb.ollama_inputs(raw) == want


@pytest.mark.parametrize("raw", [[1, 2], ["a", 3], 5, {"a": 1}, True])
def test_ollama_inputs_invalid_type(raw: Any) -> None:
    with pytest.raises(OllamaError) as err:
        emb.ollama_inputs(raw)
    assert (err.value.status, err.value.message) == (400, "invalid input type")


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("hi", ["hi"]),
        (["a", "b"], ["a", "b"]),
        ([5, 6, 7], [[5, 6, 7]]),
        ([[5, 6], [7]], [[5, 6], [7]]),
    ],
)
def test_openai_inputs(raw: Any, want: list[Any]) -> None:
    assert emb.openai_inputs(EmbeddingRequest(input=raw)) == want


@pytest.mark.parametrize("raw", [None, "", [], ["a", ""], [[]]])
def test_openai_inputs_empty(raw: Any) -> None:
    with pytest.raises(OllamaError) as err:
        emb.openai_inputs(EmbeddingRequest(input=raw))
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("ids", "limit", "truncate", "want"),
    [
        ([1, 2, 3], 3, False, [1, 2, 3]),
        ([1, 2, 3, 4], 3, True, [1, 2, 3]),  # the end is cut, as in Ollama
        ([1, 2, 3, 4], 3, False, None),
    ],
)
def test_fit(ids: list[int], limit: int, truncate: bool, want: list[int] | None) -> None:
    if want is None:
        with pytest.raises(OllamaError, match="input exceeds maximum context length"):
            emb.fit(ids, limit, truncate)
    else:
        assert emb.fit(ids, limit, truncate) == want


@pytest.mark.parametrize(
    ("vec", "dims", "want"),
    [
        ([3.0, 4.0], None, [0.6, 0.8]),
        ([3.0, 4.0], 5, [0.6, 0.8]),  # more than the model has: unchanged
        ([3.0, 4.0, 12.0], 2, [0.6, 0.8]),  # cut, then renormalised
        ([0.0, 0.0], None, [0.0, 0.0]),  # no division by zero
    ],
)
def test_shape(vec: list[float], dims: int | None, want: list[float]) -> None:
    assert emb.shape(vec, dims) == pytest.approx(want)


def test_shape_rejects_nan() -> None:
    with pytest.raises(OllamaError, match="NaN"):
        emb.shape([math.nan, 1.0], None)


@pytest.mark.parametrize(
    ("fmt", "want"), [(None, "float"), ("float", "float"), ("base64", "base64")]
)
def test_encoding(fmt: str | None, want: str) -> None:
    assert emb.encoding(fmt) == want


def test_encoding_invalid() -> None:
    with pytest.raises(OllamaError, match="encoding_format"):
        emb.encoding("hex")


def test_response_shapes() -> None:
    assert emb.embed_response("m", [[1.0]], 10, 0, 3) == {
        "model": "m",
        "embeddings": [[1.0]],
        "total_duration": 10,
        "load_duration": 1,
        "prompt_eval_count": 3,
    }
    out = emb.embedding_list("m", [[0.5, -1.0]], "base64", 4)
    assert out["object"] == "list"
    assert out["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    item = out["data"][0]
    assert (item["object"], item["index"]) == ("embedding", 0)
    assert struct.unpack("<2f", base64.b64decode(item["embedding"])) == (0.5, -1.0)
    assert emb.embedding_list("m", [[0.5]], "float", 1)["data"][0]["embedding"] == [0.5]

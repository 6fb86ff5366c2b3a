"""Embedding requests and results, Ollama's and OpenAI's shapes. Pure.

Ollama's EmbedHandler (server/routes.go) L2-normalises every vector, and with
`dimensions` smaller than the model's cuts the vector and normalises again
(matryoshka-style truncation, which works for any model, not only ones
trained for it). The OpenAI shape is Ollama's openai.go `EmbeddingList`."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from ..errors import OllamaError
from ..protocol import openai as o

# One input: text to tokenize, or token ids (OpenAI allows both).
EmbedInput = str | list[int]

INVALID_INPUT_TYPE = "invalid input type"
TOO_LONG = "input exceeds maximum context length"


def ollama_inputs(raw: Any) -> list[EmbedInput]:
    """/api/embed `input`: a string (empty = no input) or a list of strings."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw] if raw else []
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return list(raw)
    raise OllamaError(400, INVALID_INPUT_TYPE)


def openai_inputs(req: o.EmbeddingRequest) -> list[EmbedInput]:
    """/v1/embeddings `input`: a string, strings, token ids, or lists of ids."""
    raw: Any = req.input  # the protocol model already checked the shapes
    if isinstance(raw, str):
        inputs: list[EmbedInput] = [raw] if raw else []
    elif isinstance(raw, list) and raw and all(isinstance(v, int) for v in raw):
        inputs = [[int(v) for v in raw]]  # one prompt given as token ids
    elif isinstance(raw, list):
        inputs = [v if isinstance(v, str) else [int(t) for t in v] for v in raw]
    else:
        inputs = []
    if not inputs or any(len(i) == 0 for i in inputs):
        raise OllamaError(400, "invalid input: input must be a non-empty string or array")
    return inputs


def fit(ids: list[int], limit: int, truncate: bool) -> list[int]:
    """Keep the start of an input that is longer than the context (Ollama
    truncates the end), or refuse it when the client asked not to truncate."""
    if len(ids) <= limit:
        return ids
    if not truncate:
        raise OllamaError(400, TOO_LONG)
    return ids[:limit]


def normalize(vec: list[float]) -> list[float]:
    if any(math.isnan(v) or math.isinf(v) for v in vec):
        raise OllamaError(500, "embedding contains NaN or Inf values")
    norm = math.sqrt(sum(v * v for v in vec))
    scale = 1.0 / max(norm, 1e-12)
    return [v * scale for v in vec]


def shape(vec: list[float], dimensions: int | None) -> list[float]:
    """Normalised, then cut to `dimensions` and normalised again (as Ollama)."""
    if dimensions is not None and dimensions < 0:
        raise OllamaError(400, "dimensions must be a positive integer")
    out = normalize(vec)
    if dimensions and dimensions < len(out):
        out = normalize(out[:dimensions])
    return out


def embed_response(
    model: str, vectors: list[list[float]], total_ns: int, load_ns: int, prompt_tokens: int
) -> dict[str, Any]:
    return {
        "model": model,
        "embeddings": vectors,
        "total_duration": max(total_ns, 1),
        "load_duration": max(load_ns, 1),
        "prompt_eval_count": prompt_tokens,
    }


def encoding(fmt: str | None) -> str:
    if fmt in (None, "", "float"):
        return "float"
    if fmt == "base64":
        return "base64"
    raise OllamaError(400, f"invalid encoding_format {fmt!r}: expected 'float' or 'base64'")


def _b64(vec: list[float]) -> str:
    # What the OpenAI SDKs decode: little-endian float32s, base64.
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()


def embedding_list(
    model: str, vectors: list[list[float]], fmt: str, prompt_tokens: int
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": _b64(v) if fmt == "base64" else v, "index": i}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }

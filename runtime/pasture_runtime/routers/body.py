"""Request-body parsing with Ollama's errors.

Bodies are parsed by hand, whatever the Content-Type (`curl -d` sends
form-urlencoded, and Ollama decodes JSON regardless), so that a missing or
malformed body is Ollama's 400, never FastAPI's 422."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from ..errors import BODY_TOO_LARGE, MISSING_BODY, OllamaError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_GO_TYPES = {
    "string_type": "string",
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float64",
    "float_parsing": "float64",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "list_type": "slice",
    "dict_type": "map",
    "model_type": "struct",
    "model_attributes_type": "struct",
}


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _describe(e: ValidationError, model: type[BaseModel]) -> str:
    """The first error, worded like Go's encoding/json (as Ollama reports it)."""
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
    gotype = _GO_TYPES.get(err["type"])
    if gotype:
        return (
            f"json: cannot unmarshal {_json_kind(err.get('input'))} into Go struct field "
            f"{model.__name__}.{loc} of type {gotype}"
        )
    return f"invalid value for {loc or 'body'}: {err['msg']}"


async def _read(request: Request, max_bytes: int) -> bytearray:
    """The body, read as it arrives and refused (413) as soon as it is over
    `max_bytes`: a chunked body has no Content-Length to check first."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise OllamaError(413, BODY_TOO_LARGE)
    return raw  # json.loads reads a bytearray as it is: no copy


async def read_body(request: Request, model: type[M], max_bytes: int) -> M:
    raw = await _read(request, max_bytes)
    if not raw or raw.isspace():
        raise OllamaError(400, MISSING_BODY)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise OllamaError(400, f"invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise OllamaError(
            400, f"json: cannot unmarshal {_json_kind(data)} into Go value of type {model.__name__}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise OllamaError(400, _describe(e, model)) from None


class ClientGone(Exception):
    """The client disconnected before a non-streaming reply was ready."""


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (which aborts its engine request) as soon
    as the client disconnects; non-streaming requests have no send to fail."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        watcher.cancel()
        raise
    if task in done:
        watcher.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise ClientGone()

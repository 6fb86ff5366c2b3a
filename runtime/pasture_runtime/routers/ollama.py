"""Ollama's HTTP API. Handlers only parse, delegate and encode."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from .. import OLLAMA_COMPAT_VERSION, __version__, accelerator
from ..encoders import JSON, NDJSON, ndjson_line
from ..errors import MODEL_REQUIRED, OllamaError, internal_failure
from ..logs import request_id_var
from ..names import display_name
from ..offload import off_loop
from ..protocol import ollama as p
from ..state import Runtime
from ..translate import embed as emb
from ..translate.responses import created_at
from ..usecases import embed as embedding
from ..usecases.chat import prepare_chat
from ..usecases.common import LoadReply, Prepared
from ..usecases.generate import prepare_generate_off_loop
from ..usecases.show import list_models, listed_names
from ..usecases.show import show as show_model
from . import generation as gen
from .body import M, read_body
from .deps import runtime

log = logging.getLogger(__name__)
router = APIRouter()

MANAGED = (
    "models are managed by Pasture Model resources in the cluster; "
    "declare or change a Model with kubectl instead of /api/{op}"
)


def _body_doc(model: type[Any]) -> dict[str, Any]:
    """OpenAPI requestBody for hand-parsed bodies (schemas added in app.py)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


async def _body(request: Request, model: type[M]) -> M:
    return await read_body(request, model, runtime(request).config.server.max_body_bytes)


async def _lines(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield ndjson_line(chunk)
    except OllamaError as e:
        # The status line is already sent: the error is the stream's last line.
        yield ndjson_line({"error": e.message})
    except Exception:
        log.exception("generation failed mid-stream")
        yield ndjson_line({"error": internal_failure(request_id_var.get())})


async def _generation(request: Request, prepared: Prepared | LoadReply) -> Response:
    if isinstance(prepared, LoadReply):  # load/unload reply to an empty request
        return JSONResponse(prepared.body, media_type=JSON)
    ticket, chunks = gen.admit(request, prepared)
    if prepared.stream:
        return gen.TicketStreamingResponse(_lines(chunks), [ticket], NDJSON, chunks)
    final = await gen.collect(request, gen.final_chunk(chunks), [ticket])
    if final is None:
        return Response(status_code=499)
    return JSONResponse(final, media_type=JSON)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def root() -> PlainTextResponse:
    return PlainTextResponse("Ollama is running")


@router.api_route("/api/version", methods=["GET", "HEAD"])
async def version() -> JSONResponse:
    return JSONResponse(
        {"version": OLLAMA_COMPAT_VERSION, "pasture_version": __version__},
        headers={"X-Pasture-Version": __version__},
    )


@router.post("/api/generate", openapi_extra=_body_doc(p.GenerateRequest))
async def generate(request: Request) -> Response:
    req = await _body(request, p.GenerateRequest)
    return await _generation(request, await prepare_generate_off_loop(runtime(request), req))


@router.post("/api/chat", openapi_extra=_body_doc(p.ChatRequest))
async def chat(request: Request) -> Response:
    req = await _body(request, p.ChatRequest)
    return await _generation(request, await off_loop(prepare_chat, runtime(request), req))


@router.post("/api/embed", openapi_extra=_body_doc(p.EmbedRequest))
async def embed(request: Request) -> Response:
    req = await _body(request, p.EmbedRequest)
    inputs = emb.ollama_inputs(req.input)
    rt = runtime(request)
    job = await off_loop(
        embedding.prepare,
        rt, req.model, inputs, req.truncate, req.dimensions, req.options, "/api/embed",
    )  # fmt: skip
    if not job.inputs:  # Ollama answers an empty input (a load request) with no vectors
        return JSONResponse({"model": job.model, "embeddings": []})
    result = await gen.embed(request, job)
    if result is None:
        return Response(status_code=499)
    body = emb.embed_response(
        job.model, result.vectors, result.total_ns, result.load_ns, result.prompt_tokens
    )
    return JSONResponse(body)


@router.post("/api/embeddings", openapi_extra=_body_doc(p.EmbeddingRequest))
async def embeddings(request: Request) -> Response:
    """The legacy endpoint: one prompt, `{"embedding": [...]}`."""
    req = await _body(request, p.EmbeddingRequest)
    inputs: list[emb.EmbedInput] = [req.prompt] if req.prompt else []
    job = await off_loop(
        embedding.prepare,
        runtime(request),
        req.model,
        inputs,
        None,
        None,
        req.options,
        "/api/embeddings",
    )
    if not job.inputs:
        return JSONResponse({"embedding": []})
    result = await gen.embed(request, job)
    if result is None:
        return Response(status_code=499)
    return JSONResponse({"embedding": result.vectors[0]})


def _list_entry(rt: Runtime, name: str) -> dict[str, Any]:
    info = rt.info
    assert info is not None
    return {
        "name": name,
        "model": name,
        "modified_at": info.modified_at,
        "size": info.size_bytes,
        "digest": info.digest,
        "details": info.details(),
    }


@router.api_route("/api/tags", methods=["GET", "HEAD"])
async def tags(request: Request) -> JSONResponse:
    return JSONResponse({"models": list_models(runtime(request))})


@router.get("/api/ps")
async def ps(request: Request) -> JSONResponse:
    rt = runtime(request)
    if rt.info is None:
        return JSONResponse({"models": []})
    # The model stays loaded for the pod's lifetime: report a far expiry.
    expires = datetime.now(tz=UTC) + timedelta(days=365 * 100)
    out = []
    for name in listed_names(rt):
        entry = _list_entry(rt, name)
        del entry["modified_at"]
        entry["expires_at"] = created_at(int(expires.timestamp() * 1e9))
        # What is really on the accelerator (0 on CPU); `size` never below it.
        entry["size_vram"] = accelerator.used_bytes()
        entry["size"] = max(entry["size"], entry["size_vram"])
        entry["context_length"] = rt.info.context_length
        out.append(entry)
    return JSONResponse({"models": out})


@router.post("/api/show", openapi_extra=_body_doc(p.ShowRequest))
async def show(request: Request) -> JSONResponse:
    req = await _body(request, p.ShowRequest)
    return JSONResponse(show_model(runtime(request), req.model or req.name))


@router.post("/api/pull", openapi_extra=_body_doc(p.PullRequest))
async def pull(request: Request) -> Response:
    """A model served here is already "pulled": report success. Anything else
    is Ollama's not-found (a Model resource, not a pull, adds models)."""
    rt = runtime(request)
    req = await _body(request, p.PullRequest)
    name = req.model or req.name
    if not name:
        raise OllamaError(400, MODEL_REQUIRED)
    if rt.registry.lookup(name) is None:
        raise OllamaError(404, "pull model manifest: file does not exist")
    if req.stream is False:
        return JSONResponse({"status": "success"})
    statuses = ["pulling manifest", "verifying sha256 digest", "writing manifest", "success"]
    body = b"".join(ndjson_line({"status": s}) for s in statuses)
    return Response(body, media_type=NDJSON)


def _managed(op: str) -> OllamaError:
    return OllamaError(403, MANAGED.format(op=op))


# Said by `ollama push` as "Error: <this>". Never "unauthorized" or "access
# denied": the CLI would replace the message with one about namespaces.
PUSH = (
    "push is not available on Pasture: it serves models from the sources their "
    "Model resources name (a Hugging Face repo, a PVC or a URL) and keeps no copy "
    "to upload; publish the weights to one of those (e.g. `huggingface-cli upload`) "
    "and point a Model at them"
)


@router.post("/api/push", openapi_extra=_body_doc(p.PushRequest))
async def push(request: Request) -> Response:
    rt = runtime(request)
    req = await _body(request, p.PushRequest)
    name = req.model or req.name
    if not name:
        raise OllamaError(400, MODEL_REQUIRED)
    if rt.registry.lookup(name) is None:
        raise OllamaError(404, f"model '{display_name(name)}' not found")
    raise OllamaError(403, PUSH)


@router.post("/api/create", openapi_extra=_body_doc(p.CreateRequest))
async def create(request: Request) -> Response:
    await _body(request, p.CreateRequest)
    raise _managed("create")


@router.post("/api/copy", openapi_extra=_body_doc(p.CopyRequest))
async def copy(request: Request) -> Response:
    rt = runtime(request)
    req = await _body(request, p.CopyRequest)
    if not req.source or rt.registry.lookup(req.source) is None:
        raise OllamaError(404, f"model '{req.source or ''}' not found")
    raise _managed("copy")


@router.delete("/api/delete", openapi_extra=_body_doc(p.DeleteRequest))
async def delete(request: Request) -> Response:
    rt = runtime(request)
    req = await _body(request, p.DeleteRequest)
    name = req.model or req.name
    if not name:
        raise OllamaError(400, MODEL_REQUIRED)
    if rt.registry.lookup(name) is None:
        raise OllamaError(404, f"model '{display_name(name)}' not found")
    raise _managed("delete")


@router.head("/api/blobs/{digest}", include_in_schema=False)
async def blob_exists(digest: str) -> Response:
    return Response(status_code=404)  # no blobs are stored here


@router.post("/api/blobs/{digest}", include_in_schema=False)
async def blob_upload(digest: str) -> Response:
    raise _managed("blobs")

"""The FastAPI app factory and its lifespan (engine start and stop)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__, fatal, vllm_plugin, weights_check
from .admission import Admission
from .audit import AuditLog
from .auth import from_env
from .config import RuntimeConfig, adapter_problems
from .cors import CorsMiddleware
from .engine import Engine, build_engine
from .errors import OllamaError
from .metrics import Metrics
from .middleware import PastureMiddleware
from .modelinfo import read_model_info
from .names import ModelRegistry
from .protocol.anthropic import REQUEST_MODELS as ANTHROPIC_REQUEST_MODELS
from .protocol.ollama import REQUEST_MODELS
from .protocol.openai import REQUEST_MODELS as OPENAI_REQUEST_MODELS
from .protocol.responses import REQUEST_MODELS as RESPONSES_REQUEST_MODELS
from .routers import account, anthropic, health, ollama, openai, responses
from .state import Runtime
from .translate.openai_response import error_body

log = logging.getLogger(__name__)


def attach_engine(rt: Runtime, engine: Engine) -> None:
    """Make the runtime serve `engine`: admission sized, model facts read."""
    server = rt.config.server
    rt.admission = Admission(server.max_running or engine.max_num_seqs, server.max_waiting)
    admission = rt.admission
    rt.metrics.bind_gauges(lambda: admission.running, lambda: admission.waiting)
    rt.info = read_model_info(
        rt.config.engine.model, engine.hf_config, engine.max_model_len, rt.config.engine.dtype
    )
    rt.engine = engine


def freeze_startup_heap() -> None:
    """Put everything alive once the engine is up (torch, transformers, vLLM,
    the tokenizer, the app: ~0.6 M objects) out of the cyclic GC's reach.
    Otherwise every full collection scans them all: measured 400-490 ms with
    the event loop stopped, about every 10 s under load, a stall each stream
    on the pod sees (the p99 TTFT outliers in BENCHMARKS.md). vLLM's engine
    core does the same (vllm.utils.gc_utils.freeze_gc_heap)."""
    gc.collect()
    gc.freeze()


# How often the app looks at the engine's liveness (a flag read: cheap).
ENGINE_WATCH_SECONDS = 1.0


async def _start_engine(rt: Runtime, on_fatal: Callable[[], None] | None) -> None:
    started = time.monotonic()
    where = rt.config.server.termination_message_path
    problems = adapter_problems(rt.config)
    if problems:
        log.error("cannot serve the configured adapters: %s", "; ".join(problems))
        fatal.record(where, "cannot serve the configured adapters: " + "; ".join(problems))
        if on_fatal is not None:
            on_fatal()
        return
    if await _weights_refused(rt):
        if on_fatal is not None:
            on_fatal()
        return
    # vLLM's own processes write their fatal causes there too (vllm_plugin.py).
    os.environ[vllm_plugin.PATH_ENV] = where
    os.environ[vllm_plugin.MODEL_ENV] = rt.config.engine.model
    try:
        # Built in a worker thread so /healthz answers while weights load
        # (liveness must not kill a pod that is still loading; the startup
        # probe, /startupz, bounds the load instead).
        llm = await asyncio.to_thread(build_engine, rt.config.engine)
        attach_engine(rt, Engine(llm, owns=True))
        freeze_startup_heap()
    except Exception as e:
        log.exception("engine failed to start")
        fatal.record(where, fatal.cause(e, rt.config.engine.model))
        if on_fatal is not None:
            on_fatal()
        return
    log.info("engine ready", extra={"fields": {"seconds": round(time.monotonic() - started, 1)}})
    if on_fatal is not None and rt.engine is not None:
        await _watch_engine(rt, rt.engine, on_fatal)


async def _weights_refused(rt: Runtime) -> bool:
    """Check the weights against their manifest before the engine reads them
    (weights_check.py); a refusal is the termination message."""
    cfg = rt.config.engine
    try:
        # A worker thread: hashing reads every weight file, /healthz keeps answering.
        await asyncio.to_thread(
            weights_check.verify, cfg.model, enabled=cfg.verify_weights, pinned=cfg.weights_digest
        )
    except weights_check.TamperedWeights as e:
        line = weights_check.refusal(cfg.model, e)
        log.error(line)
        fatal.record(rt.config.server.termination_message_path, line)
        return True
    return False


async def _watch_engine(rt: Runtime, engine: Engine, on_fatal: Callable[[], None]) -> None:
    """Exit when the engine dies, as vLLM's own server does: a dead engine
    never comes back in this process, and until the liveness probe noticed,
    every request would get a 500. A non-zero exit lets the kubelet restart
    the container at once (and its restart count tells the story)."""
    # Polled: vLLM sets a flag (its monitor thread) and offers no callback.
    while not engine.dead:  # noqa: ASYNC110
        await asyncio.sleep(ENGINE_WATCH_SECONDS)
    log.error("engine died: exiting so that the container is restarted")
    fatal.record(rt.config.server.termination_message_path, fatal.ENGINE_DIED)
    on_fatal()


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema plus the hand-parsed request bodies' schemas."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (
            *REQUEST_MODELS,
            *OPENAI_REQUEST_MODELS,
            *ANTHROPIC_REQUEST_MODELS,
            *RESPONSES_REQUEST_MODELS,
        ):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(body.pop("$defs", {}))
            comps[model.__name__] = body
        app.openapi_schema = schema
        return schema

    return build


def _lifespan(
    rt: Runtime, engine: Engine | None, on_fatal: Callable[[], None] | None, audit_log: AuditLog
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Serve `engine` as is (tests), or build and own one in the background."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None
        if engine is not None:
            attach_engine(rt, engine)
        else:
            task = asyncio.create_task(_start_engine(rt, on_fatal))
        try:
            yield
        finally:
            if task is not None and not task.done():
                task.cancel()
            if rt.engine is not None:
                rt.engine.close()
            audit_log.flush()  # the last records, buffered up to 0.1 s (pasture_access.audit)

    return lifespan


def _error_handlers(app: FastAPI) -> None:
    """Every error in the protocol's own shape: Ollama's `{"error": "..."}`,
    OpenAI's `{"error": {...}}` on /v1/, Go's net/http words for 404/405."""

    @app.exception_handler(OllamaError)
    async def ollama_error(request: Request, exc: OllamaError) -> JSONResponse:
        if request.url.path.startswith("/v1/"):  # OpenAI's shape for OpenAI routes
            body = error_body(exc.status, exc.message, exc.code)
            return JSONResponse(body, status_code=exc.status, headers=exc.headers)
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        # Go's net/http wording for unknown paths and methods.
        if exc.status_code == 404:
            return PlainTextResponse("404 page not found", status_code=404)
        if exc.status_code == 405:
            return PlainTextResponse("405 method not allowed", status_code=405)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        return JSONResponse({"error": str(first.get("msg"))}, status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        message = f"internal error: {type(exc).__name__}"
        if request.url.path.startswith("/v1/"):
            return JSONResponse(error_body(500, message), status_code=500)
        return JSONResponse({"error": message}, status_code=500)


def create_app(
    config: RuntimeConfig,
    engine: Engine | None = None,
    on_fatal: Callable[[], None] | None = None,
) -> FastAPI:
    """The runtime app. With `engine` given (tests), it is served as is and
    never shut down here; otherwise the lifespan builds and owns one."""
    rt = Runtime(
        config=config,
        registry=ModelRegistry(config.models),
        metrics=Metrics(config.models[0].name, generation=config.engine.runner != "pooling"),
        started_ns=time.time_ns(),
    )
    audit_log = AuditLog(enabled=config.server.audit)
    app = FastAPI(
        title="Pasture runtime",
        version=__version__,
        lifespan=_lifespan(rt, engine, on_fatal, audit_log),
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = rt
    app.include_router(ollama.router)
    app.include_router(openai.router)
    app.include_router(health.router)
    app.include_router(account.router)
    app.include_router(anthropic.router)
    app.include_router(responses.router)
    app.add_middleware(
        PastureMiddleware,
        runtime=rt,
        keys=from_env(config.server.api_keys_file),
        audit_log=audit_log,
    )
    app.add_middleware(CorsMiddleware, origins=config.server.origins)  # outermost: before auth
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    _error_handlers(app)
    return app

"""Serve a runtime app over real HTTP inside the test session's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from pasture_runtime.app import create_app
from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from pasture_runtime.state import Runtime
from tests.fixtures.net import free_port
from tests.fixtures.tiers import require_tier

MODEL = "tiny:latest"


def tiny_config(model_dir: Path, **server: Any) -> RuntimeConfig:
    return RuntimeConfig.model_validate(
        {
            "engine": {"model": str(model_dir), "dtype": "bfloat16", "max_model_len": 2048},
            "models": [{"name": MODEL, "aliases": ["Tiny-Alias"]}],
            "server": {"host": "127.0.0.1", **server},
        }
    )


class _QuietServer(uvicorn.Server):
    # pytest owns the process's signals; the app under test must not take them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Served:
    url: str
    app: FastAPI

    @property
    def runtime(self) -> Runtime:
        rt: Runtime = self.app.state.runtime
        return rt

    @property
    def engine(self) -> Engine:
        assert self.runtime.engine is not None
        return self.runtime.engine


@contextlib.asynccontextmanager
async def serve(config: RuntimeConfig, engine: Engine) -> AsyncIterator[Served]:
    require_tier("engine")
    app = create_app(config, engine=engine)
    port = free_port()
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def wait_until(predicate: Any, within: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


class NoEosEngine(Engine):
    """The shared engine, but requests never stop at EOS: tests that need a
    request still running (disconnect, admission, drain) get one for sure."""

    def sampling_params(self, kwargs: dict[str, Any], max_tokens: int, fmt: Any) -> Any:
        params = super().sampling_params(kwargs, max_tokens, fmt)
        params.ignore_eos = True
        return params

"""Fixtures for the runtime tests: the shared engine served by the runtime app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine
from tests.runtime.harness import MODEL, Served, serve, tiny_config


@pytest.fixture(scope="session")
def engine(vllm_engine: Any) -> Engine:
    """The session's AsyncLLM behind the runtime's engine client (not owned)."""
    return Engine(vllm_engine)


@pytest.fixture(scope="session")
async def server(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    """The runtime app on 127.0.0.1 over the shared engine, for the session."""
    async with serve(tiny_config(tiny_model_dir, max_running=8, max_waiting=16), engine) as s:
        yield s


@pytest.fixture(scope="module")
async def tools_server(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    """The shared engine behind a runtime configured with vLLM's `xlam` tool parser
    (a model without a tool parser refuses tools, as Ollama does)."""
    config = RuntimeConfig.model_validate(
        {
            "engine": {"model": str(tiny_model_dir), "tool_call_parser": "xlam"},
            "models": [{"name": MODEL}],
            "server": {"host": "127.0.0.1"},
        }
    )
    async with serve(config, engine) as s:
        yield s

"""`ollama ps` on a CPU runtime: nothing is on an accelerator, so size_vram
is 0 (the CLI shows `100% CPU`), not the model's size (`100% GPU`)."""

from __future__ import annotations

import ollama
import pytest

from pasture_runtime import accelerator
from tests.runtime.harness import Served

pytestmark = pytest.mark.engine


async def test_ps_reports_no_accelerator_memory_on_a_cpu_runtime(server: Served) -> None:
    running = await ollama.AsyncClient(host=server.url).ps()
    model = running.models[0]
    assert accelerator.used_bytes() == 0
    assert model.size_vram == 0
    assert (model.size or 0) > 0

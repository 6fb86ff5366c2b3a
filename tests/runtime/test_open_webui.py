"""Open WebUI (PyPI open-webui, the most used Ollama front end) connected to
the real runtime and driven in headless Chromium (Debian's chromium through
npm playwright-core; tests/runtime/js/open_webui.cjs), as a person would use
it: the model selector lists the runtime's models, a chat streams a reply.

Marked `browser`: not part of `make test` (Open WebUI is a second, 6 GB
virtualenv and a minute to start); `make test-browser` runs it, hack/open-webui
installs what it needs (cached by version). Open WebUI runs offline: no sign-in
(WEBUI_AUTH=False), no update check, no embedding model download."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pasture_runtime.engine import Engine
from tests.fixtures.net import free_port
from tests.runtime.harness import MODEL, NoEosEngine, Served, serve, tiny_config

pytestmark = [pytest.mark.engine, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).parent / "js" / "open_webui.cjs"
CHROMIUM = "/usr/bin/chromium"
REPLY_TOKENS = 24


@pytest.fixture(scope="module")
def open_webui_dir() -> Path:
    """Installs Open WebUI, playwright-core and chromium on first use; fails, never skips."""
    out = subprocess.run(
        [str(ROOT / "hack" / "open-webui")], check=True, capture_output=True, text=True,
        timeout=1800,
    )  # fmt: skip
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
async def runtime(tiny_model_dir: Path, engine: Engine) -> AsyncIterator[Served]:
    """Replies never stop at EOS, so the random weights always write REPLY_TOKENS
    tokens."""
    config = tiny_config(tiny_model_dir)
    config.models[0].parameters = {"num_predict": REPLY_TOKENS}
    async with serve(config, NoEosEngine(engine.llm)) as s:
        yield s


def _env(runtime: Served, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(data),
        "WEBUI_AUTH": "False",
        "WEBUI_SECRET_KEY": "pasture-test",
        "OLLAMA_BASE_URL": runtime.url,
        "ENABLE_OLLAMA_API": "true",
        "ENABLE_OPENAI_API": "false",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        "ANONYMIZED_TELEMETRY": "false",
    }


@pytest.fixture(scope="module")
async def webui(
    open_webui_dir: Path, runtime: Served, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """`open-webui serve` on a free port, up once /health answers."""
    data = tmp_path_factory.mktemp("open-webui")
    port = free_port()
    log = (data / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(open_webui_dir / "venv" / "bin" / "open-webui"),
        "serve", "--host", "127.0.0.1", "--port", str(port),
        env=_env(runtime, data), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as c:
            for _ in range(600):
                assert proc.returncode is None, (data / "serve.log").read_text()[-4000:]
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get(f"{url}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError("Open WebUI did not start in 300 s")
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        log.close()


async def drive(open_webui_dir: Path, url: str, out: Path) -> Any:
    proc = await asyncio.create_subprocess_exec(
        "node", str(DRIVER), str(open_webui_dir), CHROMIUM, url, MODEL, str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 400)
    assert proc.returncode == 0, f"{stderr.decode()} (screenshot: {out}/failure.png)"
    return json.loads(stdout)


async def test_model_list_and_a_streamed_chat(
    open_webui_dir: Path, webui: str, tmp_path: Path
) -> None:
    got = await drive(open_webui_dir, webui, tmp_path)
    served = {m["id"] for m in got["models"]["data"]}
    assert served == {"tiny:latest", "Tiny-Alias:latest"}
    assert any(MODEL in item for item in got["listed"])  # the selector's list
    assert got["selected"] == MODEL
    reply = got["reply"]
    assert reply["done"]
    assert not reply.get("error"), reply
    assert reply["content"].strip()
    assert got["shown"] > 0  # the reply's words are on the page
    assert got["streamedFrames"] > 1  # it arrived in pieces

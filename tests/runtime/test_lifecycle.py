"""Runtime lifecycle without an engine: the startup and liveness probes, the
output-token counter from startup, generic mid-stream errors, and the
termination message a fatal error leaves (served in-process via ASGI)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pasture_runtime import fatal
from pasture_runtime.admission import Admission
from pasture_runtime.app import create_app
from pasture_runtime.config import load_config
from pasture_runtime.routers.ollama import _lines
from pasture_runtime.routers.openai import _sse
from tests.runtime.harness import tiny_config

SECRET = "/secret/path/to/weights.bin: CUDA error at 0xdeadbeef"


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_startup_probe_fails_until_the_engine_is_up(tmp_path: Path) -> None:
    """/startupz (the startup probe) is 503 while the engine loads, so the
    startup budget bounds the load; /healthz (liveness) answers meanwhile."""
    app = create_app(tiny_config(tmp_path))  # lifespan not run: the engine never comes
    async with _client(app) as c:
        r = await c.get("/startupz")
        assert (r.status_code, r.json()) == (503, {"status": "loading"})
        assert (await c.get("/healthz")).status_code == 200
        text = (await c.get("/metrics")).text
    assert 'endpoint="/startupz"' not in text  # a probe: not counted


async def test_liveness_fails_after_the_stall_window(tmp_path: Path) -> None:
    """Requests pending and no token for liveness_stall_timeout_seconds: /healthz
    fails (the kubelet restarts the pod); readiness failed long before."""
    config = tiny_config(tmp_path, stall_timeout_seconds=1, liveness_stall_timeout_seconds=30)
    app = create_app(config)
    rt = app.state.runtime
    rt.admission = Admission(1, 1)
    ticket = rt.admission.enter()
    try:
        async with _client(app) as c:
            rt.admission.last_progress = time.monotonic() - 5  # readiness window passed
            assert (await c.get("/healthz")).status_code == 200
            rt.admission.last_progress = time.monotonic() - 31  # liveness window passed
            r = await c.get("/healthz")
            assert r.status_code == 503
            assert r.json()["status"].startswith("stalled")
            rt.admission.progress()  # a token came
            assert (await c.get("/healthz")).status_code == 200
            ticket.release()
            rt.admission.last_progress = time.monotonic() - 100  # idle is not stalled
            assert (await c.get("/healthz")).status_code == 200
    finally:
        ticket.release()


def test_liveness_stall_window_is_generous_by_default(tmp_path: Path) -> None:
    server = tiny_config(tmp_path).server
    assert server.liveness_stall_timeout_seconds >= 5 * server.stall_timeout_seconds
    assert server.termination_message_path == "/dev/termination-log"
    env = {
        "PASTURE_MODEL": str(tmp_path),
        "PASTURE_LIVENESS_STALL_TIMEOUT_SECONDS": "900",
        "PASTURE_TERMINATION_MESSAGE_PATH": "/tmp/x",
    }
    server = load_config(env=env).server
    assert (server.liveness_stall_timeout_seconds, server.termination_message_path) == (
        900,
        "/tmp/x",
    )


async def test_output_tokens_are_exported_at_zero(tmp_path: Path) -> None:
    """The stall alert reads this counter: it must exist before the first token."""
    async with _client(create_app(tiny_config(tmp_path))) as c:
        text = (await c.get("/metrics")).text
    for endpoint in ("/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions"):
        series = f'pasture_output_tokens_total{{endpoint="{endpoint}",model="tiny:latest"}} 0.0'
        assert series in text


async def _failing() -> AsyncIterator[dict[str, Any]]:
    yield {"response": "a", "done": False}
    raise RuntimeError(SECRET)


@pytest.mark.parametrize("encode", [_lines, _sse], ids=["ndjson", "sse"])
async def test_mid_stream_errors_do_not_leak_exception_text(
    encode: Any, caplog: pytest.LogCaptureFixture
) -> None:
    out = b"".join([chunk async for chunk in encode(_failing())]).decode()
    assert SECRET not in out
    assert "deadbeef" not in out
    assert "RuntimeError" not in out
    assert "generation failed: internal error" in out
    assert SECRET in caplog.text  # the log keeps it


def _oom() -> BaseException:
    import torch

    try:
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79 GiB"
        )
    except torch.OutOfMemoryError as e:
        try:
            raise RuntimeError("Engine core initialization failed") from e
        except RuntimeError as outer:
            return outer


def _hub(status: int) -> BaseException:
    from huggingface_hub.errors import HfHubHTTPError

    # The hub's annotations name its own vendored httpx; it takes httpx's at run time.
    response: Any = httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/x"))
    hub = HfHubHTTPError(
        f"{status} Client Error for url https://huggingface.co/x", response=response
    )
    try:
        raise hub
    except HfHubHTTPError as e:
        try:
            raise OSError("org/model is not a local folder and is not a valid model") from e
        except OSError as outer:
            return outer


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (_oom, ("out of memory", "Tried to allocate 2.00 GiB")),
        (lambda: _hub(401), ("Hugging Face hub refused org/model (401)", "token")),
        (lambda: _hub(403), ("refused org/model (403)",)),
        (lambda: _hub(404), ("has no org/model (404)",)),
        (
            lambda: ValueError("Invalid repository ID or local directory\nsecond line"),
            ("engine failed to start for org/model: ValueError: Invalid repository ID",),
        ),
    ],
    ids=["cuda-oom", "hub-401", "hub-403", "hub-404", "other"],
)
def test_fatal_cause_names_the_root_cause(make: Any, fragments: tuple[str, ...]) -> None:
    line = fatal.cause(make(), "org/model")
    assert "\n" not in line
    assert len(line) <= fatal.MAX_CHARS
    for fragment in fragments:
        assert fragment in line, line


def test_termination_message_first_cause_wins_and_unwritable_is_skipped(tmp_path: Path) -> None:
    where = tmp_path / "termination-log"
    assert fatal.record(str(where), "first\ncause " + "x" * 5000)
    assert not fatal.record(str(where), "a consequence")
    text = where.read_text()
    assert text.startswith("first cause x")
    assert text.count("\n") == 1
    assert len(text) <= fatal.MAX_CHARS + 1
    assert not fatal.record(str(tmp_path / "no" / "such" / "dir"), "x")
    assert not fatal.record("", "x")


def test_engine_died_message_is_one_line() -> None:
    assert "\n" not in fatal.ENGINE_DIED
    assert json.dumps(fatal.ENGINE_DIED)


def test_vllm_plugin_writes_the_cause_vllm_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In vLLM's engine-core/worker processes the plugin turns the fatal error
    vLLM logs into the termination message; other errors are left alone."""
    import logging

    from pasture_runtime import vllm_plugin

    where = tmp_path / "termination-log"
    monkeypatch.setenv(vllm_plugin.PATH_ENV, str(where))
    monkeypatch.setenv(vllm_plugin.MODEL_ENV, "org/model")
    vllm_plugin.register()
    vllm_plugin.register()  # vLLM may load plugins more than once
    logger = logging.getLogger("vllm")
    handlers = [h for h in logger.handlers if isinstance(h, vllm_plugin.FatalCauseHandler)]
    assert len(handlers) == 1
    try:
        core = logging.getLogger("vllm.v1.engine.core")
        try:
            raise RuntimeError("a request failed")
        except RuntimeError:
            core.exception("Invocation of %s method failed", "x")  # not fatal
        assert not where.exists()
        try:
            raise _oom()
        except RuntimeError:
            core.exception("EngineCore failed to start.")
        assert where.read_text().startswith("out of memory starting the engine for org/model")
    finally:
        logger.removeHandler(handlers[0])

"""Engine faults against the real `pasture-runtime serve` (its own engine, in a
subprocess): a stalled engine core fails readiness, then liveness after the
configured window; a killed engine core makes the runtime exit non-zero
promptly, with the cause in its termination message and no exception text
sent to the client whose stream it cut. And a model that cannot load leaves
its cause in the termination message."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fixtures.engine import TINY_ENGINE
from tests.fixtures.net import free_port
from tests.runtime.test_cli_serve import _wait_ready

pytestmark = pytest.mark.engine

STALL_S = 2  # readiness window
LIVENESS_STALL_S = 8  # liveness window (production default: 600)


def _serve_cmd(model: str, port: int, termination_log: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pasture_runtime.cli",
        "serve",
        "--model",
        model,
        "--name",
        "tiny:latest",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        TINY_ENGINE["dtype"],
        "--max-model-len",
        str(TINY_ENGINE["max_model_len"]),
        "--enforce-eager",
        "true",
        "--termination-message-path",
        str(termination_log),
        *extra,
    ]


def _engine_core(server_pid: int) -> psutil.Process:
    """vLLM's engine-core child (it titles itself VLLM::EngineCore...)."""
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            title = child.name() + " " + " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "EngineCore" in title:
            return child
    raise AssertionError("no engine core process found")


def _wait_status(url: str, path: str, status: int, within: float) -> float:
    """Seconds until GET path answers `status` (fails after `within`)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if httpx.get(url + path, timeout=5).status_code == status:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"{path} never answered {status}")


def test_stalled_engine_fails_liveness_and_dead_engine_exits(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    termination_log = tmp_path / "termination-log"
    termination_log.touch()  # as the kubelet provides it: empty
    cmd = _serve_cmd(
        str(tiny_model_dir),
        port,
        termination_log,
        "--stall-timeout-seconds",
        str(STALL_S),
        "--liveness-stall-timeout-seconds",
        str(LIVENESS_STALL_S),
    )
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    core: psutil.Process | None = None
    try:
        assert httpx_get_retry(url + "/startupz").status_code == 503  # loading
        _wait_ready(url, proc, timeout=400)
        assert httpx.get(url + "/startupz").status_code == 200
        core = _engine_core(proc.pid)

        # Stall: the engine core stops (SIGSTOP) under a running stream.
        body = {"model": "tiny", "prompt": "hi", "options": {"num_predict": 100000}}
        with httpx.Client(base_url=url, timeout=120) as c:
            with c.stream("POST", "/api/generate", json=body) as s:
                lines = s.iter_lines()
                assert json.loads(next(lines))["done"] is False
                core.suspend()
                unready = _wait_status(url, "/readyz", 503, within=60)
                assert httpx.get(url + "/readyz").json()["status"].startswith("stalled")
                dead_after = _wait_status(url, "/healthz", 503, within=60)
                assert httpx.get(url + "/healthz").json()["status"].startswith("stalled")
                unlive = unready + dead_after  # seconds since the suspension
                # Not before its own window: the last token came just before the
                # suspension (half the window is a generous margin for a busy host).
                assert unlive >= LIVENESS_STALL_S / 2, unlive
                print(f"stall: unready after {unready:.1f} s, unlive after {unlive:.1f} s")

                # Death: the engine core is killed; the runtime exits non-zero.
                killed_at = time.monotonic()
                core.kill()
                rest = [json.loads(line) for line in lines]
            assert rest, lines
            assert "error" in rest[-1], rest[-3:]
            error = rest[-1]["error"]
            assert error.startswith("generation failed: internal error"), error
            # No exception text.
            assert "Engine" not in error
            assert "Error" not in error
        code = proc.wait(timeout=120)
        took = time.monotonic() - killed_at
        print(f"engine core killed: runtime exited {code} after {took:.1f} s")
        assert code != 0
        assert took < 60, took
        assert termination_log.read_text().startswith("engine died:")
    finally:
        if core is not None:
            with contextlib.suppress(psutil.Error):
                core.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = log_path.read_text(errors="replace")
    assert '"msg": "engine died: exiting so that the container is restarted"' in text


def httpx_get_retry(url: str, within: float = 60) -> httpx.Response:
    """The first answer of a server that is still binding its port."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_model_that_cannot_load_leaves_its_cause(tmp_path: Path) -> None:
    """A directory that is not a model: the runtime exits non-zero and its
    termination message (what the kubelet puts in lastState) says why."""
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text("{ this is not json")
    termination_log = tmp_path / "termination-log"
    cmd = _serve_cmd(str(bad), free_port(), termination_log)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
    assert out.returncode != 0, out.stdout[-2000:]
    message = termination_log.read_text()
    print("termination message:", message)
    assert message.startswith(f"engine failed to start for {bad}"), message
    assert message.count("\n") == 1


def test_engine_child_failure_cause_reaches_the_termination_message(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A failure inside vLLM's own processes (here a KV cache larger than the
    machine, as CUDA out of memory is on a GPU): the API process only sees
    "Engine core initialization failed. See root cause above"; the plugin in
    the worker writes the real cause first."""
    termination_log = tmp_path / "termination-log"
    cmd = _serve_cmd(str(tiny_model_dir), free_port(), termination_log)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "100000"}  # GiB
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=400)
    assert out.returncode != 0, out.stdout[-2000:]
    message = termination_log.read_text()
    print("termination message:", message)
    assert "See root cause above" not in message
    assert "kv cache" in message.lower(), message
    assert "100000" in message, message

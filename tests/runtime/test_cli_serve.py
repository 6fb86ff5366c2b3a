"""The real `pasture-runtime serve` command in a subprocess (its own engine):
the acceptance request, then SIGTERM drain with a stream in flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.engine import TINY_ENGINE
from tests.fixtures.net import free_port

pytestmark = pytest.mark.engine

METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start"
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise AssertionError("server never became ready")


def test_serve_answers_then_drains_on_sigterm(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "pasture_runtime.cli",
        "serve",
        "--model",
        str(tiny_model_dir),
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
        "--drain-timeout-seconds",
        "60",
    ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        # Liveness answers while the engine still loads.
        time.sleep(3)
        _wait_ready(url, proc, timeout=300)
        assert httpx.get(url + "/healthz").status_code == 200

        # The acceptance request, sent the way `curl -d` sends it.
        body = b'{"model":"tiny","messages":[{"role":"user","content":"hi"}]}'
        r = httpx.post(
            url + "/api/chat",
            content=body,
            timeout=60,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(x) for x in r.text.splitlines()]
        assert lines[-1]["done"] is True
        assert lines[-1]["done_reason"] in ("stop", "length")
        assert all(lines[-1][k] > 0 for k in METRICS)

        # A stream in flight when SIGTERM arrives completes; new requests get 503.
        stream_body = {
            "model": "tiny",
            "prompt": "hi",
            "options": {"num_predict": 600, "temperature": 0},
        }
        with httpx.Client(base_url=url, timeout=120) as c:
            with c.stream("POST", "/api/generate", json=stream_body) as s:
                it = s.iter_lines()
                first = json.loads(next(it))
                assert first["done"] is False
                proc.send_signal(signal.SIGTERM)
                time.sleep(0.5)
                with httpx.Client(base_url=url, timeout=10) as other:
                    assert other.get("/readyz").status_code == 503
                    refused = other.post("/api/generate", json={"model": "tiny", "prompt": "x"})
                    assert refused.status_code == 503
                    assert "shutting down" in refused.json()["error"]
                rest = [json.loads(line) for line in it]
            assert rest
            assert rest[-1]["done"] is True
            assert "error" not in rest[-1]
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert '"msg": "drained"' in text

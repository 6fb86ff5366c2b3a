"""Tamper detection with the real runtime: a cached model sealed by the downloader's
manifest code, one byte changed in its weights -> `pasture-runtime serve` refuses
before loading anything, exits non-zero, and its termination message (what the
kubelet puts in lastState, and pod_health.py into the ModelDeployment's condition)
says which file. Untouched, the manifest's digest is what /api/tags and /api/show
report (the Model's status.digest)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from pasture_operator.manifest import seal
from pasture_runtime.engine import Engine
from tests.fixtures.net import free_port
from tests.runtime.harness import MODEL, serve, tiny_config
from tests.runtime.test_engine_faults import _serve_cmd

pytestmark = pytest.mark.engine


def _cached_copy(tiny_model_dir: Path, dest: Path) -> tuple[Path, str]:
    """The tiny model as the download Job leaves it in the cache: files + manifest."""
    shutil.copytree(tiny_model_dir, dest)
    return dest, seal(dest).digest


def test_a_changed_byte_in_a_cached_weight_file_is_refused_at_start(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model, _ = _cached_copy(tiny_model_dir, tmp_path / "model")
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the tensors, size unchanged
    weights.write_bytes(bytes(data))
    termination_log = tmp_path / "termination-log"
    termination_log.touch()  # as the kubelet provides it: empty
    cmd = _serve_cmd(str(model), free_port(), termination_log)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
    assert out.returncode != 0, out.stdout[-2000:]
    message = termination_log.read_text()
    print("termination message:", message)
    assert message.startswith(f"refusing to serve {model}: tampered weights: "), message
    assert "model.safetensors has sha256" in message
    assert message.count("\n") == 1
    # Refused before the engine: vLLM never started a core on these weights.
    assert b"EngineCore" not in out.stdout + out.stderr


async def test_tags_and_show_report_the_manifest_digest(
    tiny_model_dir: Path, tmp_path: Path, engine: Engine
) -> None:
    model, digest = _cached_copy(tiny_model_dir, tmp_path / "model")
    async with serve(tiny_config(model), engine) as s, httpx.AsyncClient(base_url=s.url) as c:
        tags = (await c.get("/api/tags")).json()["models"]
        show = (await c.post("/api/show", json={"model": MODEL})).json()
    want = digest.removeprefix("sha256:")
    assert {t["digest"] for t in tags} == {want}  # 64 hex, as Ollama lists digests
    assert show["digest"] == want
    # The manifest is not a weight file: not counted in the size.
    assert tags[0]["size"] == _size(tiny_model_dir)


def _size(model: Path) -> int:
    return sum(p.stat().st_size for p in model.rglob("*") if p.is_file())

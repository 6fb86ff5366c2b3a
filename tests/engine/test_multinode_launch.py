"""The multi-node launch itself, on this machine's CPU: a two-stage pipeline-parallel
vLLM engine as two real processes over loopback, started exactly as the operator's
LeaderWorkerSet pods start them (builders/group_launch.py): the leader is
`pasture-runtime serve` with the runtime.yaml and env the operator renders, the
worker `vllm serve --headless` with the operator's worker args; LWS's
$(LWS_LEADER_ADDRESS) and $(LWS_WORKER_INDEX) are expanded as the kubelet would.
The leader answers an Ollama chat whose tokens pass through both stages."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from pasture_operator.builders import configmap as cm
from pasture_operator.builders.group_launch import leader_env, worker_args
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.resolved import ResolvedModel
from tests.fixtures.cluster import ROOT
from tests.fixtures.net import free_port

pytestmark = pytest.mark.engine

# What the LWS webhook injects for the worker of group 0, on loopback.
LWS_ENV = {"LWS_LEADER_ADDRESS": "127.0.0.1", "LWS_WORKER_INDEX": "1", "LWS_GROUP_SIZE": "2"}
STARTUP_SECONDS = 900  # two engines (and torch.compile warm-up) on a loaded 2-core machine


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of env values and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def _config(model_dir: Path, http_port: int, master_port: int) -> dict[str, Any]:
    spec = DeploymentSpec.from_spec(
        {
            "modelRef": {"name": "tiny"},
            "resources": {"gpus": 1, "nodesPerReplica": 2},
            "engine": {
                "pipelineParallelSize": 2,
                "maxModelLen": 256,
                "extraArgs": {"master_port": master_port},  # a free port, not 29501
            },
        }
    )
    base = ResolvedModel(
        "tiny", "tiny:latest", {}, "", str(model_dir), None, None, "generation", {},
        {"name": "tiny:latest"},
    )  # fmt: skip
    config = cm.runtime_config(spec, base, [], gpus=1)
    config["server"] = {"host": "127.0.0.1", "port": http_port}
    return config


def _start(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["nice", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its engine processes go with it
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except OSError:
        return 0


@pytest.fixture
def group(tiny_model_dir: Path, tmp_path: Path) -> Iterator[str]:
    http_port, master_port = free_port(), free_port()
    config = _config(tiny_model_dir, http_port, master_port)
    (tmp_path / "runtime.yaml").write_text(cm.render(config))
    common = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_HOST_IP": "127.0.0.1", **LWS_ENV}
    leader_vars = {e["name"]: expand(e["value"], LWS_ENV) for e in leader_env() if "value" in e}
    leader = _start(
        [str(ROOT / ".venv" / "bin" / "pasture-runtime"), "serve", "--config",
         str(tmp_path / "runtime.yaml")],
        {**common, **leader_vars},
        tmp_path / "leader.log",
    )  # fmt: skip
    worker = _start(
        [sys.executable, str(ROOT / "tests" / "fixtures" / "vllm_cli.py"),
         *(expand(a, LWS_ENV) for a in worker_args(config["engine"]))],
        {**common, "VLLM_TARGET_DEVICE": "cpu"},
        tmp_path / "worker.log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while _get(f"{base}/readyz") != 200:
            if (
                time.monotonic() > deadline
                or leader.poll() is not None
                or worker.poll() is not None
            ):
                logs = {
                    p.name: p.read_text(errors="replace")[-4000:] for p in tmp_path.glob("*.log")
                }
                pytest.fail(f"the group did not become ready: {json.dumps(logs, indent=1)}")
            time.sleep(2)
        yield base
    finally:
        _stop(leader)
        _stop(worker)


def test_leader_config_carries_the_launch(tiny_model_dir: Path) -> None:
    engine = _config(tiny_model_dir, 1, 2)["engine"]
    assert engine["tensor_parallel_size"] == 1
    assert engine["extra_args"]["nnodes"] == 2
    assert engine["extra_args"]["pipeline_parallel_size"] == 2
    # No eager mode: vLLM's CPU runner allocates a later stage's input buffers only
    # in its compile warm-up (docs/multinode.md).
    assert "enforce_eager" not in engine or engine["enforce_eager"] is False
    assert yaml.safe_load(cm.render({"engine": engine}))["engine"] == engine


def test_two_process_pipeline_answers_an_ollama_chat(group: str) -> None:
    body = {
        "model": "tiny:latest",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "options": {"num_predict": 8, "temperature": 0, "seed": 1},
    }
    req = urllib.request.Request(
        f"{group}/api/chat",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        out = json.loads(r.read())
    assert out["done"] is True, out
    assert out["eval_count"] == 8, out
    assert out["message"]["role"] == "assistant"

"""Keys with identities through the real gateway and a real runtime (vLLM CPU
engine, tiny model), with the official `ollama` and `openai` clients: the
gateway routes by a fixed table (--objects-file, no control plane) to a
runtime that requires the gateway's own key (`gateway: true`). Refusals per
protocol, listings, rotation without restart, and the audit: one record per
call, all written by the gateway (the runtime audits direct access only)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest
import yaml

from tests.fixtures.net import free_port
from tests.fixtures.tiers import require_tier
from tests.gateway.harness import GATEWAY, RUNTIME, Process, wait_until

pytestmark = pytest.mark.engine
OPTIONS = {"num_predict": 6, "temperature": 0, "seed": 1}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def client_keys(app_key: str) -> str:
    return yaml.safe_dump({
        "keys": [
            {"id": "app", "sha256": sha(app_key), "tenant": "team-a", "models": ["tiny*"]},
            {"id": "ops", "sha256": sha("sk-ops"), "tenant": "ops", "scopes": ["metrics"]},
        ],
        "tenants": {"team-a": {"requestsPerMinute": 1000}},
    })  # fmt: skip


@dataclass
class Stack:
    gateway: Process
    runtime: Process
    keys: Path

    def audit(self, proc: Process) -> list[dict[str, Any]]:
        lines = proc.log.read_text(errors="replace").splitlines()
        return [json.loads(ln) for ln in lines if ln.startswith('{"log":"pasture.audit"')]


def _objects(ip: str, names: Mapping[str, int | None]) -> str:
    """A Model, a ModelDeployment (maxRunning when given) and a ready pod per name."""
    meta = {"namespace": "t"}
    docs = [
        {"kind": "Model", "metadata": {**meta, "name": n}, "spec": {"servedName": n}} for n in names
    ]
    for name, max_running in names.items():
        server = {"server": {"maxRunning": max_running}} if max_running else {}
        docs.append({"kind": "ModelDeployment", "metadata": {**meta, "name": name},
                     "spec": {"modelRef": {"name": name}, "replicas": 1, **server},
                     "status": {"servedNames": [f"{name}:latest"]}})  # fmt: skip
        docs.append({"kind": "Pod", "metadata": {**meta, "name": f"{name}-0",
                                                 "labels": {"pasture.dev/deployment": name}},
                     "status": {"phase": "Running", "podIP": ip,
                                "conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    return yaml.safe_dump_all(docs)


def _start(cmd: list[str], log: Path, url: str, timeout: float) -> Process:
    with log.open("wb") as out:
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    p = Process(proc, url, log)
    try:
        wait_until(lambda: p.ready() or proc.poll() is not None, timeout, f"{cmd[0]} ready")
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited: {log.read_text()[-3000:]}")
    except BaseException:
        p.stop()
        raise
    return p


def start_stack(
    model_dir: Path, tmp: Path, client_keys_yaml: str,
    gateway_args: Sequence[str] = (), one_slot: str | None = None,
) -> Stack:  # fmt: skip
    """A real runtime (requiring the gateway's key) behind a real gateway whose
    callers' keys are `client_keys_yaml`; also used by the other e2e modules.
    `one_slot`: one more model name, whose ModelDeployment has maxRunning 1
    (the slots the gateway's fair queue counts)."""
    names: dict[str, int | None] = {"tiny": None, "other": None}
    if one_slot:
        names[one_slot] = 1
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    runtime_keys = tmp / "runtime-keys.yaml"
    runtime_keys.write_text(yaml.safe_dump({"keys": [
        {"id": "gateway", "sha256": sha("sk-gw"), "tenant": "platform",
         "scopes": ["infer", "manage", "metrics"], "gateway": True},
        {"id": "direct", "sha256": sha("sk-direct"), "tenant": "team-d"},
    ]}))  # fmt: skip
    config = tmp / "runtime.yaml"
    config.write_text(yaml.safe_dump({
        "engine": {"model": str(model_dir)},
        "models": [{"name": "tiny", "aliases": [n for n in names if n != "tiny"]}],
        "server": {"api_keys_file": str(runtime_keys)},
    }))  # fmt: skip
    runtime = _start(
        ["nice", "-n", "19", str(RUNTIME), "serve", "--config", str(config),
         "--model", str(model_dir), "--host", ip, "--port", "11434",
         "--max-model-len", "2048", "--enforce-eager", "true", "--log-level", "warning"],
        tmp / "runtime.log", f"http://{ip}:11434", 420,
    )  # fmt: skip
    keys, upstream, objects = tmp / "keys.yaml", tmp / "upstream", tmp / "objects.yaml"
    keys.write_text(client_keys_yaml)
    upstream.write_text("sk-gw\n")
    objects.write_text(_objects(ip, names))
    port = free_port()
    try:
        gateway = _start(
            [str(GATEWAY), "--host", "127.0.0.1", "--port", str(port), "--objects-file",
             str(objects), "--api-keys-file", str(keys), "--upstream-key-file", str(upstream),
             "--log-level", "warning", *gateway_args],
            tmp / "gateway.log", f"http://127.0.0.1:{port}", 60,
        )  # fmt: skip
    except BaseException:
        runtime.stop()
        raise
    return Stack(gateway, runtime, keys)


@pytest.fixture(scope="module")
def stack(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tier("engine")
    started = start_stack(tiny_model_dir, tmp_path_factory.mktemp("tenancy"), client_keys("sk-app"))
    try:
        yield started
    finally:
        started.gateway.stop()
        started.runtime.stop()


def test_clients_through_the_gateway_refusals_and_listings(stack: Stack) -> None:
    url = stack.gateway.url
    app = ollama.Client(host=url, headers={"Authorization": "Bearer sk-app"})
    reply = app.chat("tiny", [{"role": "user", "content": "hi"}], options=OPTIONS)
    assert reply.eval_count
    assert [m.model for m in app.list().models] == ["tiny:latest"]  # "other" stays unseen
    with pytest.raises(ollama.ResponseError) as e:
        app.chat("other", [{"role": "user", "content": "hi"}])
    assert (e.value.status_code, e.value.error) == (
        403, "forbidden: this API key may not use model 'other'",
    )  # fmt: skip
    with pytest.raises(ollama.ResponseError) as e:
        ollama.Client(host=url, headers={"Authorization": "Bearer sk-nope"}).list()
    assert e.value.status_code == 401
    oa = openai.OpenAI(base_url=url + "/v1", api_key="sk-app", max_retries=0)
    assert [m.id for m in oa.models.list()] == ["tiny:latest"]
    with pytest.raises(openai.PermissionDeniedError) as denied:
        oa.chat.completions.create(model="other", messages=[{"role": "user", "content": "x"}])
    assert denied.value.code == "model_forbidden"
    ops = openai.OpenAI(base_url=url + "/v1", api_key="sk-ops", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        ops.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="sk-nope", max_retries=0).models.list()
    # The runtime refuses anyone but the gateway (and its own direct key).
    assert httpx.get(stack.runtime.url + "/api/tags").status_code == 401


def test_rotation_without_restart(stack: Stack) -> None:
    url = stack.gateway.url
    stack.keys.write_text(client_keys("sk-app-rotated"))
    old = ollama.Client(host=url, headers={"Authorization": "Bearer sk-app"})
    with pytest.raises(ollama.ResponseError) as e:
        old.list()
    assert e.value.status_code == 401
    new = ollama.Client(host=url, headers={"Authorization": "Bearer sk-app-rotated"})
    assert [m.model for m in new.list().models] == ["tiny:latest"]
    stack.keys.write_text(client_keys("sk-app"))


def _calls(stack: Stack) -> list[tuple[str, dict[str, str], dict[str, Any] | None]]:
    body = {"model": "tiny", "prompt": "cows", "stream": False, "options": OPTIONS}
    return [
        ("/api/generate", {"Authorization": "Bearer sk-app"}, body),
        ("/api/generate", {"Authorization": "Bearer sk-app"}, {**body, "model": "other"}),
        ("/api/generate", {"Authorization": "Bearer sk-nope"}, body),
        ("/api/generate", {"Authorization": "Bearer sk-ops"}, body),
        ("/api/tags", {"Authorization": "Bearer sk-app"}, None),
    ]


def test_one_audit_record_per_call_refusals_included(stack: Stack) -> None:
    before_gw, before_rt = len(stack.audit(stack.gateway)), len(stack.audit(stack.runtime))
    ids, replies = [], []
    for path, headers, body in _calls(stack):
        r = httpx.request("POST" if body else "GET", stack.gateway.url + path, json=body,
                          headers=headers, timeout=120)  # fmt: skip
        ids.append(r.headers["x-request-id"])
        replies.append(r)
    wait_until(lambda: len(stack.audit(stack.gateway)) >= before_gw + len(ids), 10, "records")
    records = stack.audit(stack.gateway)[before_gw:]
    assert [r["request_id"] for r in records] == ids
    assert [(r["key_id"], r["tenant"]) for r in records] == [
        ("app", "team-a"), ("app", "team-a"), (None, None), ("ops", "ops"), ("app", "team-a"),
    ]  # fmt: skip
    assert [r["status"] for r in records] == [200, 403, 401, 403, 200]
    # The proxied call carries the engine's counts; refusals never reached it.
    done = replies[0].json()
    assert [(r["prompt_tokens"], r["output_tokens"]) for r in records[:2]] == [
        (done["prompt_eval_count"], done["eval_count"]), (0, 0),
    ]  # fmt: skip
    assert all(r["source"] == "gateway" and r["client"] == "127.0.0.1" for r in records)
    assert "cows" not in json.dumps(records)
    # The runtime saw the gateway's key: its records would count the calls twice.
    assert len(stack.audit(stack.runtime)) == before_rt


def test_forwarded_calls_audit_the_engines_counts(stack: Stack) -> None:
    before = len(stack.audit(stack.gateway))
    path, headers, body = _calls(stack)[0]
    r = httpx.post(stack.gateway.url + path, json=body, headers=headers, timeout=120)
    done = r.json()
    wait_until(lambda: len(stack.audit(stack.gateway)) > before, 10, "a record")
    [record] = stack.audit(stack.gateway)[before:]
    assert (record["status"], record["model"]) == (200, "tiny")
    assert (record["prompt_tokens"], record["output_tokens"]) == (
        done["prompt_eval_count"], done["eval_count"],
    )  # fmt: skip

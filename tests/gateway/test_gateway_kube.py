"""The gateway end to end: real control plane, the real `pasture-gateway`
command watching it, a real runtime (vLLM CPU engine) behind kwok pods,
and the official `ollama` and `openai` clients."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx
import ollama
import openai
import pytest

from tests.gateway.harness import Cluster, Process, running, wait_until

pytestmark = [pytest.mark.kube, pytest.mark.engine]
Bind = Callable[[str], Callable[[], None]]
OPTS = {"num_predict": 8, "seed": 1, "temperature": 0}
UNSCHEDULABLE = {
    "type": "Ready", "status": "False", "reason": "Unschedulable",
    "message": "0/3 nodes are available", "lastTransitionTime": "2026-11-28T10:00:00Z",
}  # fmt: skip


def _two_deployments(cluster: Cluster, bind: Bind) -> None:
    for name in ("alpha", "beta"):
        cluster.model(name)
        cluster.deployment(name, [f"{name}:latest"])
        cluster.pod(f"{name}-0", name, bind)


def _routable(gw: Process, name: str) -> bool:
    models = httpx.get(gw.url + "/api/ps", timeout=5).json()["models"]
    return any(m["name"] == name for m in models)


def test_two_deployments_through_one_address(
    cluster: Cluster, bind: Bind, gateway: Callable[..., Process]
) -> None:
    _two_deployments(cluster, bind)
    cluster.model("idle")
    cluster.deployment("idle", ["gamma:latest"], replicas=0, model="idle")
    gw = gateway()
    wait_until(lambda: _routable(gw, "beta:latest"), 30, "beta routable")

    client = ollama.Client(host=gw.url)
    for name in ("alpha", "beta"):
        out = client.chat(model=name, messages=[{"role": "user", "content": "hi"}], options=OPTS)
        assert out.model == f"{name}:latest" or out.model == name
        assert out.done
    chunks = list(
        client.generate(model="beta", prompt="count", stream=True, options={"num_predict": 6})
    )
    assert len(chunks) >= 2
    assert chunks[-1].done

    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused")
    reply = oai.chat.completions.create(
        model="alpha", messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert reply.choices[0].message is not None
    stream = oai.chat.completions.create(
        model="beta", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
    )
    assert len(list(stream)) >= 2

    listed = client.list().models
    assert [m.model for m in listed] == ["alpha:latest", "beta:latest", "gamma:latest"]
    assert (listed[0].size or 0) > 0  # alpha's replica's own figures (its Model has none)
    assert listed[0].details
    assert listed[0].details.family == "llama"
    ps = sorted(m.model or "" for m in client.ps().models)
    assert ps == ["alpha:latest", "beta:latest"]
    assert sorted(m.id for m in oai.models.list()) == [
        "alpha:latest",
        "beta:latest",
        "gamma:latest",
    ]
    shown = client.show("alpha")
    assert shown.modelfile
    assert client.show("gamma").modelfile  # built from the Model: no replica is up

    with pytest.raises(ollama.ResponseError) as nf:
        client.chat(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert nf.value.status_code == 404
    assert nf.value.error == "model 'nope' not found"
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])

    r = httpx.post(gw.url + "/api/chat", headers={"X-Request-Id": "trace-me-1"},
                   json={"model": "alpha", "messages": [], "stream": False})  # fmt: skip
    assert r.headers["x-request-id"] == "trace-me-1"


def test_name_conflict_is_refused_naming_both(
    cluster: Cluster, bind: Bind, gateway: Callable[..., Process]
) -> None:
    cluster.model("alpha")
    cluster.deployment("one", ["alpha:latest"], model="alpha")
    cluster.deployment("two", ["alpha:latest"], model="alpha")
    gw = gateway()
    r = httpx.post(gw.url + "/api/generate", json={"model": "alpha", "prompt": "x"}, timeout=10)
    assert r.status_code == 409
    assert f"{cluster.ns}/one" in r.json()["error"]
    assert f"{cluster.ns}/two" in r.json()["error"]
    r = httpx.post(gw.url + "/v1/completions", json={"model": "alpha", "prompt": "x"}, timeout=10)
    assert r.status_code == 409
    assert r.json()["error"]["type"] == "conflict_error"


def test_client_disconnect_aborts_the_engine_request(
    cluster: Cluster, bind: Bind, gateway: Callable[..., Process], runtime: Process
) -> None:
    _two_deployments(cluster, bind)
    gw = gateway()
    wait_until(lambda: _routable(gw, "alpha:latest"), 30, "alpha routable")
    body = {"model": "alpha", "prompt": "count sheep", "options": {"num_predict": 100000}}
    with httpx.stream("POST", gw.url + "/api/generate", json=body, timeout=60) as r:
        lines = r.iter_lines()
        for _ in range(3):
            assert json.loads(next(lines))["done"] is False
        assert running(runtime) >= 1
    # The gateway closed its upstream request; the runtime aborted the engine's.
    wait_until(lambda: running(runtime) == 0, 10, "runtime running gauge back to 0")


def test_failover_before_the_first_byte(
    cluster: Cluster, bind: Bind, gateway: Callable[..., Process]
) -> None:
    cluster.model("alpha")
    cluster.deployment("alpha", ["alpha:latest"], replicas=2)
    cluster.pod("alpha-0", "alpha", bind)
    stops: list[Callable[[], None]] = []
    cluster.pod("alpha-1", "alpha", lambda ip: stops.append(bind(ip)))
    gw = gateway("--max-attempts", "2")
    wait_until(lambda: _routable(gw, "alpha:latest"), 30, "alpha routable")
    stops[0]()  # alpha-1's process is gone; the pod still reads Ready
    client = ollama.Client(host=gw.url)
    for i in range(6):
        out = client.generate(model="alpha", prompt=f"p{i}", options=OPTS)
        assert out.done
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'pasture_gateway_retries_total{model="alpha:latest",reason="connect"}' in metrics


def _scale(cluster: Cluster, name: str) -> int:
    return int(cluster.get("modeldeployment", name)["spec"].get("replicas", 1))


def test_scale_from_zero_holds_wakes_and_answers(
    cluster: Cluster, bind: Bind, gateway: Callable[..., Process]
) -> None:
    cluster.model("cold")
    cluster.deployment("cold", ["delta:latest"], replicas=0, model="cold")
    gw = gateway("--max-held", "1", "--hold-timeout", "120")
    wait_until(lambda: gw.ready(), 30, "gateway ready")
    wait_until(lambda: "delta:latest" in httpx.get(gw.url + "/api/tags").text, 30, "delta listed")

    chunks: list[dict[str, object]] = []
    failure: list[BaseException] = []

    def held_chat() -> None:
        try:
            client = ollama.Client(host=gw.url, timeout=180)
            stream = client.chat(model="delta", messages=[{"role": "user", "content": "hi"}],
                                 stream=True, options=OPTS, keep_alive="10m")  # fmt: skip
            chunks.extend(c.model_dump() for c in stream)
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=held_chat)
    t.start()
    wait_until(lambda: _scale(cluster, "cold") == 1, 30, "the gateway raised replicas to 1")
    notes = cluster.get("modeldeployment", "cold")["metadata"].get("annotations") or {}
    assert notes.get("pasture.dev/keep-alive") == "600"
    assert notes.get("pasture.dev/last-request", "").endswith("Z")

    r = httpx.post(gw.url + "/api/chat", json={"model": "delta", "messages": []}, timeout=10)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0

    cluster.pod("cold-0", "cold", bind)  # the test plays the pod the operator would make
    t.join(120)
    assert not failure, failure
    assert chunks
    assert chunks[-1]["done"] is True


def test_hold_timeout_names_the_condition(
    cluster: Cluster, gateway: Callable[..., Process]
) -> None:
    cluster.model("stuck")
    cluster.deployment("stuck", ["omega:latest"], replicas=1, model="stuck")
    cluster.status("stuck", {"conditions": [UNSCHEDULABLE]})
    gw = gateway("--hold-timeout", "2")
    wait_until(lambda: "omega:latest" in httpx.get(gw.url + "/api/tags").text, 30, "listed")
    r = httpx.post(gw.url + "/api/generate", json={"model": "omega", "prompt": "x"}, timeout=30)
    assert r.status_code == 503
    assert r.json()["error"] == (
        'model "omega" is starting: 0/1 replicas ready (Unschedulable: 0/3 nodes are available)'
    )
    assert int(r.headers["retry-after"]) > 0


def test_shutdown_answers_held_requests(cluster: Cluster, gateway: Callable[..., Process]) -> None:
    cluster.model("stuck")
    cluster.deployment("stuck", ["omega:latest"], replicas=1, model="stuck")
    gw = gateway("--hold-timeout", "300")
    wait_until(lambda: "omega:latest" in httpx.get(gw.url + "/api/tags").text, 30, "listed")
    result: list[httpx.Response] = []
    t = threading.Thread(
        target=lambda: result.append(
            httpx.post(gw.url + "/api/generate", json={"model": "omega"}, timeout=60)
        )
    )
    t.start()
    time.sleep(1)
    started = time.monotonic()
    gw.stop()
    t.join(30)
    assert result
    assert result[0].status_code == 503
    assert result[0].json()["error"] == "server is shutting down, please try again"
    assert time.monotonic() - started < 20

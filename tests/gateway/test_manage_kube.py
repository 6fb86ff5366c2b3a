"""Management with the REAL operator on the local control plane (no engine):
the objects the gateway creates pass the CRDs' validation and the operator's
resolution, and the operator's verdict on an unknown name reaches the stock
`ollama` CLI as Ollama's own text, the gateway deleting what it made."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.ollama_cli import OllamaCli
from tests.gateway.harness import Cluster, Process, wait_until
from tests.operator.conftest import OperatorProcess, start_operator  # noqa: F401

pytestmark = pytest.mark.kube


def _exists(cluster: Cluster, kind: str, name: str) -> bool:
    return cluster.kube.kubectl("get", "-n", cluster.ns, kind, name, check=False).returncode == 0


async def test_unknown_name_gets_ollamas_text_and_nothing_stays(
    ollama_cli: OllamaCli,
    cluster: Cluster,
    gateway: Callable[..., Process],
    start_operator: Callable[..., OperatorProcess],  # noqa: F811
) -> None:
    start_operator()
    gw = gateway("--manage-anonymous")
    got = await ollama_cli.run(gw.url, "pull", "no-such-model:7b", limit_s=90)
    assert got.code == 1
    assert got.err.strip().endswith("Error: pull model manifest: file does not exist"), got.err
    async with httpx.AsyncClient(timeout=60) as client:
        once = await client.post(gw.url + "/api/pull", json={"model": "nope", "stream": False})
    assert (once.status_code, once.json()) == (
        404, {"error": "pull model manifest: file does not exist"},
    )  # fmt: skip
    events = cluster.kube.kubectl("get", "events", "-n", cluster.ns, "-o", "json").stdout
    assert "created by anonymous (ollama pull no-such-model:7b)" in events

    def nothing_left() -> bool:
        out = cluster.kube.kubectl("get", "models,modeldeployments", "-n", cluster.ns, "-o", "name")
        return not out.stdout.strip()

    wait_until(nothing_left, 30, "the gateway deleted the Model and ModelDeployment it made")


def test_pulled_objects_are_what_the_operator_accepts(
    cluster: Cluster,
    gateway: Callable[..., Process],
    start_operator: Callable[..., OperatorProcess],  # noqa: F811
) -> None:
    start_operator()
    gw = gateway("--manage-anonymous", "--manage-cache-size", "2Gi")
    pull = {"model": "qwen2.5:0.5b"}
    with httpx.stream("POST", gw.url + "/api/pull", json=pull, timeout=10) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert json.loads(next(lines)) == {"status": "pulling manifest"}
        _check_accepted(cluster)  # while the pull waits for the download


def _check_accepted(cluster: Cluster) -> None:
    def listed() -> list[dict[str, object]]:
        out = cluster.kube.kubectl("get", "models", "-n", cluster.ns, "-o", "json").stdout
        items: list[dict[str, object]] = json.loads(out)["items"]
        return items

    (model,) = wait_until(listed, 30, "the pulled Model")
    name = str(model["metadata"]["name"])  # type: ignore[index]

    def resolved() -> dict[str, object] | None:
        st = cluster.get("model", name).get("status") or {}
        return st if st.get("source") else None

    status = wait_until(resolved, 60, "the operator resolved the pulled Model")
    assert status["source"] == "library://qwen2.5:0.5b"
    assert status["phase"] != "Failed", status
    md = wait_until(
        lambda: (cluster.get("modeldeployment", name).get("status") or {}).get("conditions"),
        60,
        "the operator reconciled the pulled ModelDeployment",
    )
    reasons = {c["type"]: c["reason"] for c in md}
    assert reasons.get("ModelReady") == "ModelNotReady", reasons  # waiting for its download
    assert _exists(cluster, "pvc", f"{name}-cache")

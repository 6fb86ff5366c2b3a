"""Every PromQL expression of the dashboards and alert rules, evaluated by a real
Prometheus (Debian's package, on loopback) that scrapes a real `pasture-runtime
serve` (vLLM CPU engine, tiny model) under a little load and a real
`pasture-operator run` reconciling examples/ on the local control plane.

Each expression must evaluate without error and return data, except the
documented exceptions below. Each metric selector inside an alert expression must
return data on its own (the alert itself is empty when all is well)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.chart.helpers import CHART, DASHBOARDS, RULES, helm
from tests.chart.test_rbac_proof import _apply_examples, _ready
from tests.fixtures.cluster import ROOT, KubeCluster
from tests.fixtures.net import free_port

pytestmark = [pytest.mark.kube, pytest.mark.engine]

MODEL = "tiny:latest"
RUNTIME_LABELS = {"namespace": "ml", "service": "tiny", "pod": "tiny-0"}

# The operator's per-object series (desired/ready replicas, Ready, Model phase)
# that the dashboards and alerts are written against; set by every reconcile pass.
OPERATOR_OBJECT_SERIES = {
    "pasture_operator_modeldeployment_desired_replicas",
    "pasture_operator_modeldeployment_ready_replicas",
    "pasture_operator_modeldeployment_ready",
    "pasture_operator_model_phase",
}
# Exported by the operator, but only once a ModelDeployment has autoscaling enabled
# (examples/ has none; the autoscaler's own tests cover them): documented exceptions.
AUTOSCALER_ONLY_SERIES = {
    "pasture_operator_autoscaler_metric",
    "pasture_operator_autoscaler_target",
    "pasture_operator_autoscaler_desired_replicas",
    "pasture_operator_autoscaler_decisions_total",
    "pasture_operator_autoscaler_scales_total",
}
# Selectors that only have data when something fails (documented exceptions).
# The gateway's series: the live stack runs no gateway process (its pods are
# kwok's); the gateway's own tests check its /metrics (gateway package, issue 13).
GATEWAY_ONLY_SERIES = {
    "pasture_gateway_held_requests",
    "pasture_gateway_hold_seconds_count",
    "pasture_gateway_hold_seconds_bucket",
}
FAILURE_ONLY_SELECTORS = {
    'pasture_operator_reconciles_total{result="error"}',  # no reconcile failed
}

# Alerts whose condition the test's load makes true on purpose (max_running 2,
# max_waiting 1, bursts of 6: some requests get 503 queue_full).
PROVOKED = {"PastureAdmissionRejections"}

SELECTOR = re.compile(r"((?:pasture_|vllm:)[a-zA-Z0-9_:]*)(\{[^}]*\})?")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} not ready in {timeout}s:\n{log.read_text()[-3000:]}")


async def _load(base: str) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello there"}],
        "options": {"num_predict": 24, "temperature": 0},
    }
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def chat(stream: bool) -> int:
            r = await client.post("/api/chat", json={**body, "stream": stream})
            return r.status_code

        async def disconnect() -> None:  # a client that goes away mid-stream
            # A long generation, so the stream is surely still running when the
            # client leaves (24 tokens of the tiny model can finish first).
            long = {**body, "stream": True, "options": {"num_predict": 1500, "temperature": 0}}
            async with client.stream("POST", "/api/chat", json=long) as r:
                async for _ in r.aiter_lines():
                    break

        codes: list[int] = []
        for _ in range(4):  # bursts above max_running + max_waiting: some 503 queue_full
            codes += await asyncio.gather(*[chat(i % 2 == 0) for i in range(6)])
            await asyncio.sleep(1.5)  # spread over scrapes: rate() needs two samples
        await disconnect()
        codes.append((await client.post("/api/chat", json={**body, "model": "nope"})).status_code)
        await client.post("/api/embed", json={"model": MODEL, "input": "x"})
        assert {200, 503, 404} <= set(codes), codes


@dataclass(frozen=True)
class Stack:
    prom: str  # Prometheus's base URL
    namespace: str  # where examples/ was applied


@pytest.fixture(scope="module")
def stack(
    chart_cluster: KubeCluster, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("live-prom")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        rt_port, op_port, prom_port = free_port(), free_port(), free_port()
        rt_log = tmp / "runtime.log"
        procs.append(
            _start(
                [
                    str(ROOT / ".venv/bin/pasture-runtime"),
                    "serve",
                    "--model",
                    str(tiny_model_dir),
                    "--name",
                    MODEL,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(rt_port),
                    "--dtype",
                    "bfloat16",
                    "--max-model-len",
                    "2048",
                    "--enforce-eager",
                    "true",
                    "--max-running",
                    "2",
                    "--max-waiting",
                    "1",
                ],
                rt_log,
                env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
            )
        )
        op_log = tmp / "operator.log"
        procs.append(
            _start(
                [
                    str(ROOT / ".venv/bin/pasture-operator"),
                    "run",
                    "--all-namespaces",
                    "--standalone",
                    "--liveness=none",
                    "--metrics-host=127.0.0.1",
                    f"--metrics-port={op_port}",
                    "--log-format=plain",
                    f"--kubeconfig={chart_cluster.kubeconfig}",
                ],
                op_log,
                env={**os.environ, "KUBECONFIG": str(chart_cluster.kubeconfig)},
            )
        )
        # The chart installs the CRDs (its operator pod is kwok's: it runs nothing).
        helm(
            "upgrade",
            "--install",
            "pasture",
            str(CHART),
            "-n",
            "pasture-system",
            "--create-namespace",
            "--wait",
            "--timeout",
            "120s",
            env=chart_cluster.env,
        )
        chart_cluster.kubectl(
            "apply", "-n", "default", "-f", str(ROOT / "examples" / "00-tiny-model-volume.yaml")
        )
        ns = _apply_examples(chart_cluster)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                # The labels a ServiceMonitor scrape of the runtime Service gives.
                {
                    "job_name": "tiny",
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{rt_port}"], "labels": RUNTIME_LABELS}
                    ],
                },
                {
                    "job_name": "pasture-operator",
                    "honor_labels": True,
                    "static_configs": [
                        {
                            "targets": [f"127.0.0.1:{op_port}"],
                            "labels": {"namespace": "pasture-system", "pod": "operator-0"},
                        }
                    ],
                },
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_log = tmp / "prometheus.log"
        procs.append(
            _start(
                [
                    "prometheus",
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                prom_log,
            )
        )
        prom = f"http://127.0.0.1:{prom_port}"
        _wait_http(f"{prom}/-/ready", 60, procs[-1], prom_log)
        if not _ready(chart_cluster, ns, 90):
            pods = chart_cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
            md = chart_cluster.kubectl(
                "-n", ns, "get", "modeldeployment/tiny", "-o", "yaml", check=False
            ).stdout
            pytest.fail(f"{op_log.read_text()[-3000:]}\n{pods}\n{md}")
        _wait_http(f"http://127.0.0.1:{rt_port}/readyz", 300, procs[0], rt_log)
        asyncio.run(_load(f"http://127.0.0.1:{rt_port}"))
        time.sleep(4)  # a few scrapes after the load
        yield Stack(prom, ns)
    finally:
        for p in reversed(procs):
            _kill(p)
        helm("uninstall", "pasture", "-n", "pasture-system", env=chart_cluster.env, check=False)


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=30)
    body = r.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def substitute(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", "1m")
        .replace('"$namespace"', '".*"')
        .replace('"$deployment"', '".*"')
        .replace('"$model"', '".*"')
        .replace('"$kind"', '".*"')
    )


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        d = json.loads(path.read_text())
        for panel in d["panels"]:
            for t in panel.get("targets", []):
                out.append((f"{d['title']} / {panel['title']} / {t['refId']}", t["expr"]))
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                m = re.fullmatch(r"label_values\((.*), *(\w+)\)", v["query"]["query"])
                assert m, v
                out.append((f"{d['title']} / variable {v['name']}", m.group(1)))
    return out


def alert_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def metric_names(expr: str) -> set[str]:
    return {m.group(1) for m in SELECTOR.finditer(expr)}


@pytest.mark.parametrize(
    ("where", "expr"), dashboard_exprs(), ids=[w for w, _ in dashboard_exprs()]
)
def test_dashboard_expression_has_data(stack: Stack, where: str, expr: str) -> None:
    result = query(stack.prom, substitute(expr))
    if not result and metric_names(expr) <= AUTOSCALER_ONLY_SERIES:
        pytest.xfail("autoscaler series: only with autoscaling enabled (documented exception)")
    if not result and metric_names(expr) <= GATEWAY_ONLY_SERIES:
        pytest.xfail("gateway series: no gateway process in this stack (documented exception)")
    assert result, f"{where}: no data for {expr}"


@pytest.mark.parametrize(("alert", "expr"), alert_exprs(), ids=[a for a, _ in alert_exprs()])
def test_alert_expression_and_its_selectors(stack: Stack, alert: str, expr: str) -> None:
    result = query(stack.prom, expr)
    if alert in PROVOKED:  # the load overflows the admission queue on purpose
        assert result, f"{alert}: its condition is false although the load provoked it"
    else:
        assert result == [], f"{alert}: condition true on a healthy stack: {result}"
    for m in SELECTOR.finditer(expr):
        selector = m.group(0)
        if selector in FAILURE_ONLY_SELECTORS or m.group(1) in GATEWAY_ONLY_SERIES:
            continue
        assert query(stack.prom, selector), f"{alert}: no series for {selector}"


def test_operator_object_series_exported(stack: Stack) -> None:
    """examples/ (Model `tiny`, ModelDeployment `tiny`, 2 replicas) as the gauges say it."""
    missing = {n for n in OPERATOR_OBJECT_SERIES if not query(stack.prom, n)}
    assert not missing, f"operator series missing: {sorted(missing)}"

    def one(expr: str) -> float:
        result = query(stack.prom, expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    ns = f'namespace="{stack.namespace}"'
    md = f'{{{ns}, modeldeployment="tiny"}}'
    assert one(f"pasture_operator_modeldeployment_desired_replicas{md}") == 2
    assert one(f"pasture_operator_modeldeployment_ready_replicas{md}") == 2
    assert one(f"pasture_operator_modeldeployment_ready{md}") == 1
    phases = {
        r["metric"]["phase"]: float(r["value"][1])
        for r in query(
            stack.prom,
            f'pasture_operator_model_phase{{namespace="{stack.namespace}", model="tiny"}}',
        )
    }
    assert phases == {"Pending": 0, "Downloading": 0, "Ready": 1, "Failed": 0}

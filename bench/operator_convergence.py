"""Operator convergence benchmark (a script, not a timed test).

    .venv/bin/python bench/operator_convergence.py --count 50 --count 200

Brings up the local control plane (hack/cluster), applies the CRDs, starts
`pasture-operator run` on one namespace, creates one Model and N
ModelDeployments (1 GPU each would exceed kwok's 8 GPUs, so they request
none), and measures the time until every one has its Deployment and
status Ready, plus the operator's peak RSS (VmHWM from /proc).

The load generator creates the objects concurrently (--writers threads, each
with its own API client), so the measurement is of the operator, not of a
serial `kubectl apply`. Readiness is polled with one list call every 0.25 s.
Besides the table, the operator's own counters are printed (reconciles, their
summed duration, applies, status writes), to show where its time goes.

At rest (after convergence) the status writes are counted for --rest-seconds
and reported per ModelDeployment per minute. With --autoscaled every
ModelDeployment has the built-in autoscaler on (interval 2 s) and each pod
serves a fake /metrics on its kwok IP (tests/operator/fake_pod_metrics.py)
whose load moves on every scrape but always needs one replica: a steady load
that changes `currentMetric` every tick. Goal: <= 1 write per ModelDeployment
per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GROUP, VERSION = "pasture.dev", "v1alpha1"
POD_CIDR = "127.77.0.1/16"  # loopback pod IPs: a fake /metrics can bind them
AUTOSCALED = {"enabled": True, "minReplicas": 1, "maxReplicas": 2, "target": 4, "interval": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _operator_counters(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        for prefix in (
            "pasture_operator_reconciles_total",
            "pasture_operator_reconcile_duration_seconds_sum",
            "pasture_operator_applies_total",
            "pasture_operator_status_writes_total",
        ):
            if line.startswith(prefix + "{"):
                out[prefix] = out.get(prefix, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


class Clients:
    """One kubernetes API client per thread (urllib3 pools are per client)."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.local = threading.local()

    def custom(self) -> Any:
        from kubernetes import client, config

        if not hasattr(self.local, "custom"):
            api = config.new_client_from_config(config_file=self.kubeconfig)
            self.local.custom = client.CustomObjectsApi(api)
        return self.local.custom


def _ready(items: list[dict[str, Any]]) -> int:
    return sum(
        1
        for i in items
        for c in (i.get("status") or {}).get("conditions", [])
        if c["type"] == "Ready" and c["status"] == "True"
    )


def _pod_ips(kubectl: str, env: dict[str, str], ns: str) -> list[str]:
    out = subprocess.run(
        [kubectl, "get", "pods", "-n", ns, "-o", "json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return [
        p["status"]["podIP"]
        for p in json.loads(out.stdout)["items"]
        if (p.get("status") or {}).get("podIP")
    ]


def status_writes_at_rest(
    env: dict[str, str],
    kubectl: str,
    ns: str,
    metrics_port: int,
    count: int,
    seconds: float,
    autoscaled: bool,
) -> float:
    """Status writes per ModelDeployment per minute over `seconds` after convergence."""
    from tests.operator.fake_pod_metrics import FakePodMetrics, exposition

    farm = None
    if autoscaled:  # 1..3 requests in flight against a target of 4: always one replica
        farm = FakePodMetrics(*_pod_ips(kubectl, env, ns)).start()
        farm.bodies = [exposition(str(n)) for n in (1, 2, 3, 2)]
        time.sleep(20)  # the first samples' transitions (NoMetrics -> Steady) are written
    try:
        before = _operator_counters(metrics_port).get("pasture_operator_status_writes_total", 0)
        time.sleep(seconds)
        after = _operator_counters(metrics_port).get("pasture_operator_status_writes_total", 0)
    finally:
        if farm is not None:
            farm.stop()
    return round((after - before) / count / (seconds / 60), 3)


def run_one(
    env: dict[str, str],
    kubectl: str,
    kubeconfig: str,
    count: int,
    writers: int,
    timeout: float,
    rest: float = 60.0,
    autoscaled: bool = False,
) -> dict[str, float]:
    ns = f"bench-{count}-{os.getpid()}"
    subprocess.run([kubectl, "create", "namespace", ns], env=env, check=True, capture_output=True)
    metrics_port = _free_port()
    op = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/pasture-operator"),
            "run",
            "-n",
            ns,
            "--standalone",
            "--metrics-port",
            str(metrics_port),
            "--liveness",
            f"http://127.0.0.1:{_free_port()}/healthz",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clients = Clients(kubeconfig)
    try:
        model = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Model",
            "metadata": {"name": "tiny"},
            "spec": {"source": {"huggingFace": {"repo": "org/tiny"}}},
        }
        deployments = [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ModelDeployment",
                "metadata": {"name": f"md-{i}"},
                "spec": {
                    "modelRef": {"name": "tiny"},
                    "replicas": 1,
                    **({"autoscaling": AUTOSCALED} if autoscaled else {}),
                },
            }
            for i in range(count)
        ]

        def create(body: dict[str, Any]) -> None:
            plural = "models" if body["kind"] == "Model" else "modeldeployments"
            clients.custom().create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)

        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(lambda _: clients.custom(), range(writers)))  # clients warm
            time.sleep(2)  # operator startup is not what we measure
            cpu0 = _cpu_s(op.pid)
            start = time.monotonic()
            list(pool.map(create, [model, *deployments]))
        applied = time.monotonic() - start
        ready = 0
        while time.monotonic() - start < timeout:
            listed = clients.custom().list_namespaced_custom_object(
                GROUP, VERSION, ns, "modeldeployments"
            )
            ready = _ready(listed["items"])
            if ready == count:
                break
            time.sleep(0.25)
        else:
            raise SystemExit(f"{count}: only {ready} Ready after {timeout}s")
        converged = time.monotonic() - start
        counters = _operator_counters(metrics_port)
        cpu_converged = _cpu_s(op.pid) - cpu0
        at_rest = (
            status_writes_at_rest(env, kubectl, ns, metrics_port, count, rest, autoscaled)
            if rest > 0
            else float("nan")
        )
        return {
            "count": count,
            "create_s": round(applied, 2),
            "converged_s": round(converged, 2),
            "operator_cpu_s": round(cpu_converged, 2),
            "peak_rss_mb": round(_peak_rss_mb(op.pid), 1),
            "reconciles": counters.get("pasture_operator_reconciles_total", 0),
            "reconcile_s_sum": round(
                counters.get("pasture_operator_reconcile_duration_seconds_sum", 0), 2
            ),
            "applies": counters.get("pasture_operator_applies_total", 0),
            "status_writes": counters.get("pasture_operator_status_writes_total", 0),
            "rest_writes_per_md_min": at_rest,
        }
    finally:
        op.terminate()
        try:
            op.wait(timeout=20)
        except subprocess.TimeoutExpired:
            op.kill()
            op.wait()
        subprocess.run(
            [kubectl, "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, action="append")
    p.add_argument("--writers", type=int, default=8, help="concurrent creating threads")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument(
        "--rest-seconds", type=float, default=60, help="status writes counted after convergence"
    )
    p.add_argument(
        "--autoscaled", action="store_true", help="autoscaler on, pods under a steady fake load"
    )
    a = p.parse_args()
    counts = a.count or [50, 200]
    bin_dir = (
        subprocess.run([str(ROOT / "hack/build-kube")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    name = f"bench-{os.getpid()}"
    kubeconfig = (
        subprocess.run(
            [str(ROOT / "hack/cluster"), "up", "--name", name, "--pod-cidr", POD_CIDR],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    kubectl = f"{bin_dir}/kubectl"
    rows = []
    try:
        subprocess.run(
            [kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")],
            env=env,
            check=True,
            capture_output=True,
        )
        for count in counts:
            row = run_one(
                env,
                kubectl,
                kubeconfig,
                count,
                a.writers,
                a.timeout,
                a.rest_seconds,
                a.autoscaled,
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        subprocess.run([str(ROOT / "hack/cluster"), "down", "--name", name], capture_output=True)
    mode = "autoscaled, steady fake load" if a.autoscaled else "autoscaling off"
    print(f"\n{a.writers} concurrent writers; {mode}; at rest over {a.rest_seconds:g} s")
    print(
        "| ModelDeployments | create all (s) | converged (s) | operator CPU (s) | "
        "peak RSS (MB) | reconciles | reconcile time sum (s) | applies | status writes | "
        "status writes/MD/min at rest |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['count']:.0f} | {r['create_s']} | {r['converged_s']} | {r['operator_cpu_s']} | "
            f"{r['peak_rss_mb']} | {r['reconciles']:.0f} | {r['reconcile_s_sum']} | "
            f"{r['applies']:.0f} | {r['status_writes']:.0f} | {r['rest_writes_per_md_min']} |"
        )


if __name__ == "__main__":
    main()

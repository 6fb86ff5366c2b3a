"""Fixtures for the operator's tests on the local control plane.

CRDs are cluster-scoped: they are server-side applied (idempotent) once per
session. Each test runs its own `pasture-operator run` process scoped to its
fresh namespace, so tests never see each other's objects.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.fixtures.net import free_port

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ROOT / ".venv" / "bin" / "pasture-operator"


@pytest.fixture(scope="session")
def crds(kube_cluster: KubeCluster) -> KubeCluster:
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    for name in ("models.pasture.dev", "modeldeployments.pasture.dev", "kopfpeerings.kopf.dev"):
        # Polled, not `kubectl wait`: right after a create or an update the CRD
        # may have no status yet, and `kubectl wait` then fails instead of waiting.
        wait_for(partial(_established, kube_cluster, name), 30, f"crd/{name} Established")
    return kube_cluster


def _established(cluster: KubeCluster, name: str) -> bool:
    out = cluster.kubectl("get", f"crd/{name}", "-o", "json", check=False)
    if out.returncode != 0:
        return False
    status: dict[str, Any] = json.loads(out.stdout).get("status") or {}
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int
    liveness_port: int
    args: list[str] = dataclasses.field(default_factory=list)

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            return str(r.read().decode())

    def reconciles(self) -> float:
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("pasture_operator_reconciles_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2
            ) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_operator(
    crds: KubeCluster, namespace: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(
        *extra: str, peering: bool = False, env: Mapping[str, str] | None = None
    ) -> OperatorProcess:
        """`env` adds to the cluster's environment (e.g. PASTURE_GPU_PROFILES)."""
        metrics_port, liveness_port = free_port(), free_port()
        log = tmp_path / f"operator-{len(started)}.log"
        args = [
            str(OPERATOR),
            "run",
            "-n",
            namespace,
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(metrics_port),
            "--liveness",
            f"http://127.0.0.1:{liveness_port}/healthz",
            "--log-format",
            "plain",
            "--default-image",
            "pasture-runtime:test",
            "--workers",
            "4",
            *extra,
        ]
        if not peering:
            args.append("--standalone")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, env={**crds.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
            )
        op = OperatorProcess(proc, log, metrics_port, liveness_port, args)
        started.append(op)
        wait_for(op.healthy, 30, f"operator liveness (log: {log})")
        return op

    try:
        yield start
    finally:
        for op in started:
            op.stop()


@pytest.fixture
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def get_json(cluster: KubeCluster, namespace: str, *what: str) -> dict[str, Any] | None:
    out = cluster.kubectl("get", "-n", namespace, *what, "-o", "json", check=False)
    if out.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def field(
    cluster: KubeCluster, namespace: str, kind: str, name: str, *path: str, default: Any = None
) -> Any:
    """One field of an object (`status`, `readyReplicas`, ...), or `default` when
    the object or any step of the path is missing."""
    value: Any = get_json(cluster, namespace, kind, name)
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def condition(body: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((body or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}

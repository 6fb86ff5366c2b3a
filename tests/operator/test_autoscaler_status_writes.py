"""Item 14: an autoscaled ModelDeployment under steady load is not a status write storm.

The pod (a fake /metrics on the kwok pod's IP) reports a load that moves on
every scrape but always needs the same replicas: `currentMetric` and
`lastBusyTime` change every tick, nothing a person acts on does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, field, get_json, wait_for
from tests.operator.fake_pod_metrics import FakePodMetrics, exposition
from tests.operator.test_kube_operator import HF_MODEL, apply, md_yaml

pytestmark = pytest.mark.kube

WRITES = 'pasture_operator_status_writes_total{kind="ModelDeployment"}'


def status_writes(op: OperatorProcess) -> float:
    for line in op.metrics().splitlines():
        if line.startswith(WRITES):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_steady_load_writes_status_at_most_once_a_minute(
    kube_cluster: KubeCluster,
    namespace: str,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    k = kube_cluster
    op = start_operator()
    autoscaling = {"enabled": True, "minReplicas": 1, "maxReplicas": 3, "interval": 1}
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml(autoscaling=autoscaling))

    def pod_ip() -> str | None:
        pods = get_json(k, namespace, "pods", "-l", "pasture.dev/deployment=tiny") or {}
        ips = [p["status"].get("podIP") for p in pods.get("items", [])]
        return ips[0] if len(ips) == 1 and ips[0] else None

    server = FakePodMetrics(wait_for(pod_ip, 60, "the pod's IP")).start()
    try:
        # 1..3 requests in flight against a target of 4: always one replica.
        server.bodies = [exposition(str(n)) for n in (1, 2, 3, 2)]
        wait_for(
            lambda: (
                field(k, namespace, "modeldeployment", "tiny", "status", "autoscaling", "reason")
                == "Steady"
            ),
            60,
            "the autoscaler at steady load",
        )
        time.sleep(3)  # let the transition's writes land
        before, scrapes, started = status_writes(op), server.served, time.monotonic()
        time.sleep(30)
        writes = status_writes(op) - before
        ticks = server.served - scrapes
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert ticks >= 15, f"only {ticks} scrapes in {elapsed:.0f}s: the autoscaler is not ticking"
    # At most one heartbeat write a minute (plus one for a boundary inside the window).
    assert writes <= 2, f"{writes:g} status writes in {elapsed:.0f}s with {ticks} ticks"
    assert field(k, namespace, "deployment", "tiny", "spec", "replicas") == 1

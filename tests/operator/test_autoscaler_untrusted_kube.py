"""Item 15 end to end: a pod whose /metrics reports NaN, Inf or a huge body.

The operator must not crash, must count the pod as missing (NoMetrics), and
must keep exactly one tick chain: one decision per `interval`, not a chain
that forks on every failed tick.
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

DECISIONS = "pasture_operator_autoscaler_decisions_total"


def decisions(op: OperatorProcess) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in op.metrics().splitlines()
        if line.startswith(DECISIONS + "{")
    )


def test_untrusted_pod_metrics_keep_one_tick_chain(
    kube_cluster: KubeCluster,
    namespace: str,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    k = kube_cluster
    op = start_operator()
    autoscaling = {"enabled": True, "minReplicas": 1, "maxReplicas": 2, "interval": 1}
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml(autoscaling=autoscaling))

    def pod_ip() -> str | None:
        pods = get_json(k, namespace, "pods", "-l", "pasture.dev/deployment=tiny") or {}
        ips = [p["status"].get("podIP") for p in pods.get("items", [])]
        return ips[0] if len(ips) == 1 and ips[0] else None

    ip = wait_for(pod_ip, 60, "the pod's IP")
    server = FakePodMetrics(ip).start()
    try:

        def autoscaling_status() -> dict[str, object]:
            return dict(
                field(k, namespace, "modeldeployment", "tiny", "status", "autoscaling") or {}
            )

        server.body = exposition("3")
        wait_for(
            lambda: autoscaling_status().get("currentMetric") == 3, 60, "a valid scrape is read"
        )
        for what, body, chunks in [
            ("NaN", exposition("NaN"), 1),
            ("+Inf", exposition("+Inf"), 1),
            ("negative", exposition("-5"), 1),
            ("huge", b"# " + b"x" * (1 << 20) + b"\n", 48),
        ]:
            server.body, server.chunks = body, chunks
            wait_for(
                lambda: autoscaling_status().get("reason") == "NoMetrics",
                30,
                f"{what}: the pod counts as missing",
            )
            before, served, started = decisions(op), server.served, time.monotonic()
            time.sleep(6)
            ticks = decisions(op) - before
            scrapes = server.served - served
            elapsed = time.monotonic() - started
            # One chain at interval 1 s: about one tick (and one scrape) a second;
            # a forked chain would double on every failure.
            assert 2 <= ticks <= elapsed + 2, f"{what}: {ticks} ticks in {elapsed:.1f}s"
            assert scrapes <= elapsed + 2, f"{what}: {scrapes} scrapes in {elapsed:.1f}s"
            assert op.proc.poll() is None, f"operator exited on {what}"
        server.body, server.chunks = exposition("1"), 1
        wait_for(
            lambda: autoscaling_status().get("currentMetric") == 1, 30, "recovers on a valid body"
        )
    finally:
        server.stop()
    log = op.log.read_text()
    assert "Traceback" not in log, log[-3000:]

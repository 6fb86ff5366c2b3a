"""Scale to zero end to end (issue 13) on the real control plane.

The kwok pod "reports" an idle runtime (a fake /metrics on its IP:
fake_pod_metrics.py; nothing running or waiting). The test plays the gateway:
it refreshes `pasture.dev/last-request` as the gateway does while requests
come, and raises replicas 0 -> 1 through the scale subresource as the gateway
does for a held request. Idle timeout 5 s, interval 1 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, field, get_json, wait_for
from tests.operator.fake_pod_metrics import FakePodMetrics
from tests.operator.test_kube_operator import HF_MODEL, apply, md_yaml

pytestmark = pytest.mark.kube

IDLE = 5
AUTOSCALING = {
    "enabled": True,
    "minReplicas": 0,
    "maxReplicas": 2,
    "interval": 1,
    "idleTimeout": f"{IDLE}s",
}


class Gateway:
    """What the gateway does to a ModelDeployment, by kubectl."""

    def __init__(self, cluster: KubeCluster, ns: str) -> None:
        self.k, self.ns = cluster, ns

    def request_seen(self) -> float:
        """Stamp pasture.dev/last-request now (seconds precision); the epoch time stamped."""
        now = datetime.now(UTC).replace(microsecond=0)
        self.k.kubectl(
            "annotate", "-n", self.ns, "modeldeployment/tiny", "--overwrite",
            f"pasture.dev/last-request={now.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        )  # fmt: skip
        return now.timestamp()

    def wake(self) -> None:
        self.k.kubectl(
            "patch", "-n", self.ns, "modeldeployment/tiny", "--subresource=scale",
            "--type=merge", "-p", '{"spec": {"replicas": 1}}',
        )  # fmt: skip

    def replicas(self) -> int:
        return int(field(self.k, self.ns, "modeldeployment", "tiny", "spec", "replicas"))


def pod_ip(k: KubeCluster, ns: str) -> str | None:
    pods = get_json(k, ns, "pods", "-l", "pasture.dev/deployment=tiny") or {}
    live = [p for p in pods.get("items", []) if not p["metadata"].get("deletionTimestamp")]
    ips = [p["status"].get("podIP") for p in live]
    ready = [
        c.get("status") == "True"
        for p in live
        for c in p["status"].get("conditions") or []
        if c.get("type") == "Ready"
    ]
    return ips[0] if len(ips) == 1 and ips[0] and all(ready) and ready else None


@pytest.fixture
def pod_metrics() -> Iterator[FakePodMetrics]:
    server = FakePodMetrics().start()  # idle: nothing running or waiting
    try:
        yield server
    finally:
        server.stop()


def test_idle_model_scales_to_zero_but_not_while_requests_come(
    kube_cluster: KubeCluster,
    namespace: str,
    start_operator: Callable[..., OperatorProcess],
    pod_metrics: FakePodMetrics,
) -> None:
    k, gw = kube_cluster, Gateway(kube_cluster, namespace)
    start_operator()
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml(autoscaling=AUTOSCALING))
    pod_metrics.sync([wait_for(lambda: pod_ip(k, namespace), 60, "a ready pod")])

    def autoscaling() -> dict[str, Any]:
        status = field(k, namespace, "modeldeployment", "tiny", "status", default={}) or {}
        return dict(status.get("autoscaling") or {})

    # Requests keep coming (the gateway refreshes last-request): never scaled
    # to zero, though the pods report nothing in flight, for over 2 timeouts.
    end = time.monotonic() + 2 * IDLE + 3
    while time.monotonic() < end:
        last = gw.request_seen()
        assert gw.replicas() == 1, autoscaling()
        time.sleep(1)
    assert autoscaling().get("idleUntil"), autoscaling()

    # The requests stop: down to zero one idle timeout after the last one, not before.
    wait_for(lambda: gw.replicas() == 0, IDLE + 20, "scale to zero once idle")
    assert time.time() - last >= IDLE, "scaled to zero before the idle timeout passed"
    wait_for(lambda: autoscaling().get("reason") == "ScaledToZero", 30, "ScaledToZero status")
    events = k.kubectl(
        "get", "events", "-n", namespace, "--field-selector",
        "involvedObject.kind=ModelDeployment,reason=ScaleToZero", "-o", "name",
    )  # fmt: skip
    assert events.stdout.strip(), "no ScaleToZero Event"
    ready = field(k, namespace, "modeldeployment", "tiny", "status", "conditions", default=[])
    assert any(c["type"] == "Ready" and c["reason"] == "ScaledToZero" for c in ready)

    # The gateway wakes it (a held request; its last-request is long past):
    # the autoscaler keeps the replica it did not make for a new idle window.
    woke = time.monotonic()
    gw.wake()
    pod_metrics.sync([wait_for(lambda: pod_ip(k, namespace), 60, "the woken pod")])
    while time.monotonic() - woke < IDLE - 2:
        assert gw.replicas() == 1, f"scaled back down {time.monotonic() - woke:.1f}s after wake"
        time.sleep(0.3)
    wait_for(lambda: gw.replicas() == 0, IDLE + 20, "scale to zero again once idle")

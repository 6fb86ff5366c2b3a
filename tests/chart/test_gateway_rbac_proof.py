"""The gateway's RBAC proven on a real apiserver: with the chart's gateway
ServiceAccount (a TokenRequest token) every call the gateway makes succeeds
(GATEWAY-CONTRACT items 2-4, 7: watch Models, ModelDeployments and their pods;
read and raise replicas through the scale subresource; merge-patch its demand
annotations), and what it must never do is refused."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart.helpers import CHART, helm, sa_kubeconfig
from tests.fixtures.cluster import ROOT, KubeCluster

pytestmark = pytest.mark.kube

NS = "pasture-system"


@pytest.fixture(scope="module")
def gateway_kubeconfig(
    chart_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    helm(
        "upgrade", "--install", "pasture", str(CHART), "-n", NS, "--create-namespace",
        "--wait", "--timeout", "120s", env=chart_cluster.env,
    )  # fmt: skip
    try:
        dep = json.loads(
            chart_cluster.kubectl(
                "-n", NS, "get", "deployment/pasture-gateway", "-o", "json"
            ).stdout
        )
        sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
        yield sa_kubeconfig(chart_cluster, NS, sa, tmp_path_factory.mktemp("gw") / "kc")
    finally:
        helm("uninstall", "pasture", "-n", NS, "--wait", env=chart_cluster.env, check=False)


def as_gateway(
    cluster: KubeCluster, kubeconfig: Path, *args: str, body: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=body, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_gateway_serviceaccount_can_do_what_the_gateway_does_and_no_more(
    chart_cluster: KubeCluster, gateway_kubeconfig: Path
) -> None:
    k, kc = chart_cluster, gateway_kubeconfig
    ns = f"gw-{uuid.uuid4().hex[:6]}"
    k.kubectl("create", "namespace", ns)
    try:
        k.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / "10-model-tiny.yaml"))
        k.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / "20-modeldeployment-tiny.yaml"))
        scale = f"/apis/pasture.dev/v1alpha1/namespaces/{ns}/modeldeployments/tiny/scale"
        allowed = [
            ("get", "models", "-A", "-o", "name"),
            ("get", "modeldeployments", "-A", "-o", "name"),
            ("get", "modeldeployments", "-n", ns, "--watch-only", "--request-timeout=1s"),
            ("get", "pods", "-A", "-l", "pasture.dev/deployment", "-o", "name"),
            ("get", "deployments", "-n", NS, "-o", "name"),  # its own: the replica share
            ("get", "--raw", scale),
            ("annotate", "-n", ns, "modeldeployment/tiny", "--overwrite",
             "pasture.dev/last-request=2026-11-28T12:00:00Z", "pasture.dev/keep-alive=600"),
            ("patch", "-n", ns, "modeldeployment/tiny", "--subresource=scale", "--type=merge",
             "-p", '{"spec": {"replicas": 1}}'),
        ]  # fmt: skip
        for args in allowed:
            out = as_gateway(k, kc, *args)
            # A watch that saw nothing ends at its request timeout: allowed, not refused.
            assert "forbidden" not in out.stderr.lower(), (args, out.stderr)
            assert out.returncode == 0 or "watch-only" in " ".join(args), (args, out.stderr)
        refused = [
            ("get", "secrets", "-n", ns),
            ("delete", "-n", ns, "modeldeployment/tiny"),
            ("patch", "-n", ns, "modeldeployment/tiny", "--subresource=status", "--type=merge",
             "-p", '{"status": {"ready": "9/9"}}'),
            ("patch", "-n", ns, "model/tiny", "--type=merge", "-p", '{"spec": {"system": "x"}}'),
            ("delete", "pod", "any", "-n", ns),  # authorised before looked up
            ("create", "configmap", "x", "-n", ns),
        ]  # fmt: skip
        for args in refused:
            out = as_gateway(k, kc, *args)
            assert out.returncode != 0, (args, out.stderr)
            assert "forbidden" in out.stderr.lower(), (args, out.stderr)
    finally:
        # Gone before the next test: an operator watching every namespace there
        # would be refused (403 NamespaceTerminating) writing into this one.
        k.kubectl("delete", "namespace", ns, "--timeout=90s", check=False, timeout=120)

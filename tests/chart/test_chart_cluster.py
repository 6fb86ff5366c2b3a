"""The chart against a real control plane: server-side validation of every rendered
object (the apiserver's own OpenAPI schemas, with strict field validation), then
`helm install`, served CRDs, a running operator Deployment, and `helm uninstall`
keeping the CRDs."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.chart.helpers import CHART, helm
from tests.fixtures.cluster import KubeCluster

pytestmark = pytest.mark.kube

EVERYTHING = [
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "metrics.dashboards.enabled=true",
]


@pytest.mark.parametrize(
    "extra",
    [
        [],
        EVERYTHING,
        [
            "--set",
            "operator.replicas=3",
            "--set",
            "operator.watchNamespaces={default,kube-public}",
            "--set",
            "crds.keep=false",
        ],
    ],
    ids=["defaults", "monitoring", "namespaced-ha"],
)
def test_rendered_objects_pass_server_side_validation(
    chart_cluster: KubeCluster, extra: list[str]
) -> None:
    ns = f"dry-{uuid.uuid4().hex[:6]}"
    chart_cluster.kubectl("create", "namespace", ns)
    manifest = helm("template", "pasture", str(CHART), "-n", ns, *extra).stdout
    out = chart_cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifest, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "created (server dry run)" in out.stdout
    assert "Warning" not in out.stderr, out.stderr


def test_server_side_validation_catches_a_broken_object(chart_cluster: KubeCluster) -> None:
    """The check above has teeth: an unknown field in a rendered object is refused."""
    manifest = helm("template", "pasture", str(CHART), "-n", "default").stdout
    broken = manifest.replace("  replicas: 1\n", "  replicas: 1\n  replicaz: 1\n", 1)
    assert broken != manifest
    out = chart_cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=broken, check=False
    )
    assert out.returncode != 0
    assert "replicaz" in out.stderr


def test_helm_install_serves_crds_and_runs_operator(chart_cluster: KubeCluster) -> None:
    ns = "pasture-system"
    env = chart_cluster.env
    out = helm(
        "install",
        "pasture",
        str(CHART),
        "-n",
        ns,
        "--create-namespace",
        "--wait",
        "--timeout",
        "120s",
        *EVERYTHING,
        env=env,
    )
    assert "kubectl wait --for=condition=Ready modeldeployment" in out.stdout  # NOTES
    try:
        resources = chart_cluster.kubectl(
            "api-resources", "--api-group=pasture.dev", "-o", "name"
        ).stdout.split()
        assert sorted(resources) == ["modeldeployments.pasture.dev", "models.pasture.dev"]
        for crd in (
            "models.pasture.dev",
            "modeldeployments.pasture.dev",
            "clusterkopfpeerings.kopf.dev",
            "kopfpeerings.kopf.dev",
        ):
            chart_cluster.kubectl(
                "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s"
            )
        chart_cluster.kubectl("get", "models,modeldeployments", "-A")  # served, listable
        dep = json.loads(
            chart_cluster.kubectl(
                "-n", ns, "get", "deployment/pasture-operator", "-o", "json"
            ).stdout
        )
        assert dep["status"].get("readyReplicas") == 1
        for kind in (
            "servicemonitor/pasture-operator",
            "prometheusrule/pasture",
            "service/pasture-operator-metrics",
            "configmap/pasture-dashboard-model-serving",
        ):
            chart_cluster.kubectl("-n", ns, "get", kind)
        status = helm("status", "pasture", "-n", ns, "-o", "json", env=env).stdout
        assert json.loads(status)["info"]["status"] == "deployed"
    finally:
        helm("uninstall", "pasture", "-n", ns, "--wait", env=env, check=False)
    # crds.keep (the default): the CRDs, and so every Model, survive the uninstall.
    chart_cluster.kubectl("get", "crd/models.pasture.dev", "crd/modeldeployments.pasture.dev")
    gone = chart_cluster.kubectl("-n", ns, "get", "deployment/pasture-operator", check=False)
    assert gone.returncode != 0

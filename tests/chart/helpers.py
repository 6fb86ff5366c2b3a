"""Shared by tests/chart and tests/monitoring: the chart, helm, promtool and a
control plane of their own.

The chart tests install CRDs cluster-wide (Pasture's, and the Prometheus
Operator's ServiceMonitor/PrometheusRule, which make the operator create
ServiceMonitors) and run operators watching every namespace, so they use a
cluster of their own rather than the session's shared `kube_cluster`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import ROOT, KubeCluster, _bin_dir
from tests.fixtures.lws import lws_crd_path
from tests.fixtures.tiers import require_tier

CHART = ROOT / "charts" / "pasture"
RULES = CHART / "alerts" / "pasture-rules.yaml"
DASHBOARDS = CHART / "dashboards"
PROM_OPERATOR_VERSION = "v0.80.1"  # CRDs of ServiceMonitor and PrometheusRule
INFERENCE_POOL_CRD = ROOT / "tests" / "fixtures" / "inferencepool-crd.yaml"


def helm(
    *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [str(_bin_dir() / "helm"), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{out.stderr}")
    return out


def render(
    *args: str, release: str = "pasture", namespace: str = "pasture-system"
) -> list[dict[str, Any]]:
    """`helm template` output as a list of objects."""
    out = helm("template", release, str(CHART), "-n", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def promtool() -> str:
    """promtool's path; fails (never skips) when missing: `make setup` installs it."""
    require_tier("kube")  # hack/setup-monitoring installs it with the kube tier
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run hack/setup-monitoring (part of `make setup`)")
    return path


def prometheus_operator_crds() -> list[Path]:
    """The Prometheus Operator's own CRD files, from its Go module (cached by Go)."""
    env = {**os.environ, "GOFLAGS": "-modcacherw"}
    src = subprocess.run(
        [
            "bash",
            "-c",
            f"source {ROOT}/hack/lib.sh && go mod download -json "
            f"github.com/prometheus-operator/prometheus-operator@"
            f"{PROM_OPERATOR_VERSION}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if src.returncode != 0:
        pytest.fail(f"go mod download of the prometheus-operator CRDs failed:\n{src.stderr}")
    crd_dir = Path(json.loads(src.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
    return [
        crd_dir / f"monitoring.coreos.com_{p}.yaml" for p in ("servicemonitors", "prometheusrules")
    ]


def own_cluster(name: str) -> Iterator[KubeCluster]:
    # As on OpenShift: blockOwnerDeletion needs update on the owner's finalizers
    # (the RBAC proof shows the chart grants it).
    require_tier("kube")
    up = subprocess.run(
        [
            str(ROOT / "hack" / "cluster"),
            "up",
            "--name",
            name,
            "--admission-plugins",
            "OwnerReferencesPermissionEnforcement",
        ],
        capture_output=True,
        text=True,
    )
    if up.returncode != 0:
        pytest.fail(f"hack/cluster up failed:\n{up.stderr}")
    cluster = KubeCluster(name=name, kubeconfig=Path(up.stdout.strip()), bin_dir=_bin_dir())
    try:
        # Every optional child kind's CRD, so the RBAC proof covers each table row.
        crds = [*prometheus_operator_crds(), INFERENCE_POOL_CRD, lws_crd_path()]
        for crd in crds:
            cluster.kubectl("apply", "--server-side", "-f", str(crd))
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/servicemonitors.monitoring.coreos.com",
            "crd/prometheusrules.monitoring.coreos.com",
        )
        yield cluster
    finally:
        subprocess.run([str(ROOT / "hack" / "cluster"), "down", "--name", name], check=False)


def sa_kubeconfig(cluster: KubeCluster, namespace: str, sa: str, path: Path) -> Path:
    """A kubeconfig authenticating as a ServiceAccount with a TokenRequest token."""
    token = cluster.kubectl("-n", namespace, "create", "token", sa, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": server}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": sa}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path

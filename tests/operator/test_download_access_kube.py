"""RBAC's escalation check on the real apiserver: with the chart's rules (the Role
it renders for a watched namespace), the operator's ServiceAccount may create a
download Job's Role and RoleBinding (builders/download_access.py), because it
holds `patch` on models/status itself; without that grant the apiserver refuses
the Role. No `escalate` or `bind` verb is involved."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pasture_operator.builders.download_access import download_access
from pasture_operator.spec.owner import Owner
from tests.chart.helpers import render, sa_kubeconfig
from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import get_json

pytestmark = pytest.mark.kube


def _chart_role(ns: str) -> dict[str, Any]:
    """The operator's Role the chart renders for namespace `ns`."""
    objs = render("--set", f"operator.watchNamespaces={{{ns}}}")
    (role,) = [
        o
        for o in objs
        if o["kind"] == "Role"
        and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") != "gateway"
    ]
    return role


def _without_model_status(role: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in role["rules"]:
        rest = [r for r in rule["resources"] if r != "models/status"]
        if rest:
            rules.append({**rule, "resources": rest})
    return {**role, "rules": rules}


def _as(k: KubeCluster, kubeconfig: Path, ns: str, obj: dict[str, Any]) -> Any:
    return subprocess.run(
        [str(k.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "-n", ns, "create", "-f", "-"],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_chart_rules_let_the_operator_grant_the_download_access(
    crds: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    k, ns = crds, namespace
    k.kubectl("create", "serviceaccount", "op", "-n", ns)
    role = _chart_role(ns)
    k.kubectl("apply", "-f", "-", input=json.dumps(role))
    name = role["metadata"]["name"]
    k.kubectl(
        "create", "rolebinding", name, "-n", ns, f"--role={name}", f"--serviceaccount={ns}:op"
    )
    model = {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "m"},
        "spec": {"source": {"huggingFace": {"repo": "org/x"}}},
    }
    k.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(model))
    body = get_json(k, ns, "model", "m")
    assert body is not None
    owner = Owner.from_object(body)
    kubeconfig = sa_kubeconfig(k, ns, "op", tmp_path / "op.kubeconfig")

    for obj in download_access(owner, "m-dl-1"):
        out = _as(k, kubeconfig, ns, obj)
        assert out.returncode == 0, (obj["kind"], out.stderr)

    k.kubectl("apply", "-f", "-", input=json.dumps(_without_model_status(role)))
    sa, refused, _ = download_access(owner, "m-dl-2")
    assert _as(k, kubeconfig, ns, sa).returncode == 0
    out = _as(k, kubeconfig, ns, refused)
    assert out.returncode != 0
    assert "attempting to grant RBAC permissions not currently held" in out.stderr, out.stderr

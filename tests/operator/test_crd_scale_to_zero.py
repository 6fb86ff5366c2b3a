"""The CRD's scale-to-zero and routing fields (issue 13) against the real apiserver:
minReplicas 0 is legal, durations are validated with messages a person can act
on, and the defaults the autoscaler and the gateway rely on are filled in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import get_json

pytestmark = pytest.mark.kube

BASE = {"modelRef": {"name": "m"}}
ENABLED = {"enabled": True, "minReplicas": 0, "maxReplicas": 2}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "idleTimeout in words",
        {**BASE, "autoscaling": {**ENABLED, "idleTimeout": "5 minutes"}},
        'autoscaling.idleTimeout must be a duration like "30s", "5m" or "1h"',
    ),
    (
        "negative idleTimeout",
        {**BASE, "autoscaling": {**ENABLED, "idleTimeout": "-5m"}},
        "autoscaling.idleTimeout must be a duration",
    ),
    (
        "maxKeepAlive with a unit Ollama lacks",
        {**BASE, "autoscaling": {**ENABLED, "maxKeepAlive": "2d"}},
        "autoscaling.maxKeepAlive must be a duration",
    ),
    (
        "negative minReplicas",
        {**BASE, "autoscaling": {**ENABLED, "minReplicas": -1}},
        "should be greater than or equal to 0",
    ),
    (
        "unknown routing strategy",
        {**BASE, "routing": {"strategy": "roundRobin"}},
        'supported values: "leastLoad", "prefixHash"',
    ),
]


def _apply(cluster: KubeCluster, ns: str, name: str, spec: dict[str, Any]) -> Any:
    body = {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }
    return cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(body), check=False)


def test_bad_scale_to_zero_and_routing_fields_are_refused(
    crds: KubeCluster, namespace: str
) -> None:
    failures = []
    for label, spec, message in INVALID:
        out = _apply(crds, namespace, "bad", spec)
        if out.returncode == 0 or message not in out.stderr:
            failures.append(f"{label}: rc={out.returncode} stderr={out.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_min_zero_is_legal_and_defaults_are_filled(crds: KubeCluster, namespace: str) -> None:
    out = _apply(crds, namespace, "idle", {**BASE, "autoscaling": ENABLED})
    assert out.returncode == 0, out.stderr
    spec = (get_json(crds, namespace, "modeldeployment", "idle") or {})["spec"]
    assert spec["autoscaling"]["minReplicas"] == 0
    assert spec["autoscaling"]["idleTimeout"] == "5m"
    assert spec["autoscaling"]["maxKeepAlive"] == "1h"
    assert spec["autoscaling"]["allowUnload"] is False
    assert spec["routing"] == {"strategy": "prefixHash"}

    for value in ("5s", "90", "1h30m", "1.5h", "250ms"):
        tuned = {**ENABLED, "idleTimeout": value, "maxKeepAlive": value, "allowUnload": True}
        out = _apply(crds, namespace, "idle", {**BASE, "autoscaling": tuned})
        assert out.returncode == 0, f"{value}: {out.stderr}"
    out = _apply(crds, namespace, "idle", {**BASE, "routing": {"strategy": "leastLoad"}})
    assert out.returncode == 0, out.stderr

"""A served name two ModelDeployments share is reported on both (Degraded,
reason NameConflict, and a Warning Event): the gateway refuses such a name
rather than pick one. Removing one clears the other."""

from __future__ import annotations

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, condition, get_json, wait_for
from tests.operator.test_kube_operator import HF_MODEL, apply, md_yaml

pytestmark = pytest.mark.kube


def _degraded_reason(k: KubeCluster, ns: str, name: str) -> str:
    return str(condition(get_json(k, ns, "modeldeployment", name), "Degraded").get("reason"))


def test_two_deployments_serving_one_name_are_both_told(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml("first") + "---\n" + md_yaml("second"))
    for name in ("first", "second"):

        def conflicted(name: str = name) -> bool:
            return _degraded_reason(k, namespace, name) == "NameConflict"

        wait_for(conflicted, 60, f"{name} Degraded NameConflict")
    message = condition(get_json(k, namespace, "modeldeployment", "first"), "Degraded")["message"]
    assert "'tiny:latest'" in message
    assert "ModelDeployment 'second'" in message
    events = k.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=NameConflict", "-o", "name"
    ).stdout.split()
    assert len(events) >= 2

    k.kubectl("delete", "-n", namespace, "modeldeployment/second")
    wait_for(
        lambda: _degraded_reason(k, namespace, "first") != "NameConflict",
        60,
        "first no longer conflicted once second is gone",
    )

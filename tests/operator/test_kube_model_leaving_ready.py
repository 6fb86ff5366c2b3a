"""Item 12 against the real apiserver: a Model that leaves Ready while its
ModelDeployment serves does not scale the pods down; conditions say why."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, condition, field, get_json, wait_for
from tests.operator.test_kube_operator import HF_MODEL, apply, md_yaml, wait_ready

pytestmark = pytest.mark.kube


def test_model_leaving_ready_keeps_serving_pods(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k = kube_cluster
    apply(k, namespace, HF_MODEL + "---\n" + md_yaml(replicas=2))
    wait_ready(k, namespace)
    wait_for(
        lambda: field(k, namespace, "deployment", "tiny", "status", "readyReplicas") == 2,
        60,
        "two ready pods",
    )
    served = get_json(k, namespace, "deployment", "tiny")
    assert served is not None

    # A typo: the Model now names a PVC that does not exist (Pending, PVCNotFound).
    k.kubectl(
        "patch",
        "-n",
        namespace,
        "model/tiny",
        "--type=merge",
        "-p",
        '{"spec": {"source": {"huggingFace": null, "pvc": {"claimName": "no-such-pvc"}}}}',
    )

    def md_body() -> dict[str, Any] | None:
        return get_json(k, namespace, "modeldeployment", "tiny")

    wait_for(
        lambda: condition(md_body(), "ModelReady").get("reason") == "ModelNotReady",
        30,
        "the ModelDeployment sees the Model leave Ready",
    )
    time.sleep(3)  # a pass that would scale down has had time to act
    dep = get_json(k, namespace, "deployment", "tiny")
    assert dep is not None
    assert dep["spec"]["replicas"] == 2, "serving pods were scaled down"
    assert dep["spec"]["template"] == served["spec"]["template"], "pods rolled to the bad source"
    ready = condition(md_body(), "Ready")
    assert ready.get("status") == "True", ready
    assert "previous model revision" in ready.get("message", "")
    assert "no-such-pvc" in condition(md_body(), "Progressing").get("message", "")

    # Fixed: the new (valid) revision rolls out as usual.
    k.kubectl(
        "patch",
        "-n",
        namespace,
        "model/tiny",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "spec": {
                    "source": {"pvc": None, "huggingFace": {"repo": "org/tiny", "revision": "v2"}}
                }
            }
        ),
    )
    wait_for(
        lambda: condition(md_body(), "ModelReady").get("status") == "True", 30, "ModelReady again"
    )
    wait_for(
        lambda: (
            (d := get_json(k, namespace, "deployment", "tiny")) is not None
            and d["spec"]["template"] != served["spec"]["template"]
            and d["spec"]["replicas"] == 2
        ),
        30,
        "the new revision rolls out",
    )

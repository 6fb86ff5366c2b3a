"""The Model CRD's library token field and the catalog's verdicts against the
real local control plane and a running operator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, condition, get_json, wait_for

pytestmark = pytest.mark.kube


def model(name: str, source: dict[str, Any]) -> str:
    body = {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {"source": source},
    }
    return json.dumps(body)


def test_library_token_secret_goes_with_a_library_source(crds: KubeCluster, namespace: str) -> None:
    token = {"name": "hf"}
    wrong = model("wrong", {"huggingFace": {"repo": "a/b"}, "libraryTokenSecret": token})
    out = crds.kubectl("apply", "-n", namespace, "-f", "-", input=wrong, check=False)
    assert out.returncode != 0
    assert "libraryTokenSecret goes with a library source" in out.stderr
    ok = model("gated", {"library": "llama3.2:1b", "libraryTokenSecret": token})
    crds.kubectl("apply", "-n", namespace, "-f", "-", input=ok)
    stored = get_json(crds, namespace, "model", "gated")
    assert stored is not None
    assert stored["spec"]["source"]["libraryTokenSecret"] == {"name": "hf", "key": "token"}
    assert "kind" not in stored["spec"]  # unset: the catalog entry's kind applies


def test_the_operator_names_a_gated_entrys_missing_token(
    kube_cluster: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    kube_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=model("gated", {"library": "gemma3:1b"})
    )

    def reason() -> str:
        return str(
            condition(get_json(kube_cluster, namespace, "model", "gated"), "Ready").get("reason")
        )

    assert wait_for(lambda: reason() == "TokenSecretRequired", 60, "TokenSecretRequired")
    message = condition(get_json(kube_cluster, namespace, "model", "gated"), "Ready")["message"]
    assert "'gemma3:1b' is gated on Hugging Face (google/gemma-3-1b-it)" in message

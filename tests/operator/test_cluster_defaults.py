"""Pod and object defaults real clusters need (issue 11, item 20): no API token in
runtime pods, ServiceMonitors a kube-prometheus-stack selects, and a NetworkPolicy
that admits the operator's autoscaler without the user naming its namespace."""

from __future__ import annotations

from typing import Any

from pasture_operator import settings as run_settings
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from tests.operator.helpers import md, model


def _children(body: dict[str, Any], s: ChildDefaults) -> dict[str, dict[str, Any]]:
    obs = DeploymentObserved(models={"tiny": model()}, children={}, servicemonitor_crd=True)
    return {o["kind"]: o for o in plan_deployment(body, obs, s, "T").apply}


def test_runtime_pods_get_no_service_account_token() -> None:
    dep = _children(md(), ChildDefaults("img"))["Deployment"]
    assert dep["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_servicemonitor_carries_the_configured_labels() -> None:
    s = ChildDefaults("img", servicemonitor_labels={"release": "kps"})
    sm = _children(md(), s)["ServiceMonitor"]
    assert sm["metadata"]["labels"]["release"] == "kps"
    assert sm["metadata"]["labels"]["pasture.dev/deployment"] == "tiny"  # ours still win


def test_networkpolicy_admits_the_operator_namespace() -> None:
    s = ChildDefaults("img", operator_namespace="pasture-system")
    np = _children(md(access={"namespaces": ["apps"]}), s)["NetworkPolicy"]
    peers = np["spec"]["ingress"][0]["from"]
    names = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in peers
        if "namespaceSelector" in p and "podSelector" not in p  # whole namespaces
    ]
    assert names == ["apps", "monitoring", "pasture-system"]


def test_settings_from_args_and_env(monkeypatch: Any) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "pasture-system")
    cfg = run_settings.from_args(
        ["run", "--servicemonitor-label", "release=kps", "--servicemonitor-label", "team=ml"]
    )
    assert cfg.servicemonitor_labels == {"release": "kps", "team": "ml"}
    assert cfg.operator_namespace == "pasture-system"

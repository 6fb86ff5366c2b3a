"""The chart's gateway (issue 13) without a cluster: a hardened Deployment of the
operator image running `pasture-gateway`, its Service named after the release,
PDB, probes, values, and least-privilege RBAC scoped to the served namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helpers import CHART, helm, render

GATEWAY_RULES = {
    ("pasture.dev", "models", "get"), ("pasture.dev", "models", "list"),
    ("pasture.dev", "models", "watch"), ("pasture.dev", "modeldeployments", "get"),
    ("pasture.dev", "modeldeployments", "list"), ("pasture.dev", "modeldeployments", "watch"),
    ("", "pods", "get"), ("", "pods", "list"), ("", "pods", "watch"),
    ("pasture.dev", "modeldeployments", "patch"),
    ("pasture.dev", "modeldeployments/scale", "get"),
    ("pasture.dev", "modeldeployments/scale", "patch"),
}  # fmt: skip


# Its own Deployment, in the release namespace: the ready replicas share the limits.
PEERS_RULES = {("apps", "deployments", "get"), ("apps", "deployments", "list"),
               ("apps", "deployments", "watch")}  # fmt: skip


def peers(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in gateway(objs, kind) if o["metadata"]["name"].endswith("-peers")]


def served(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in gateway(objs, kind) if not o["metadata"]["name"].endswith("-peers")]


def gateway(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        o
        for o in objs
        if o["kind"] == kind
        and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "gateway"
    ]


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = gateway(objs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return dict(c)


def rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_gateway_deployment_service_and_pdb() -> None:
    objs = render(release="ollama")
    (dep,) = gateway(objs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]
    c = container(objs)
    assert c["image"].startswith("ghcr.io/pasture-dev/pasture-operator:")
    assert c["command"] == ["pasture-gateway"]
    assert "--port=11434" in c["args"]
    assert "--hold-timeout=600" in c["args"]
    assert not any(a.startswith("--namespaces") for a in c["args"])  # every namespace
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Hardened as the operator's pod.
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # The runtimes' NetworkPolicies admit pods with these labels (builders/service.py).
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "gateway"
    assert labels["app.kubernetes.io/part-of"] == "pasture"

    (svc,) = gateway(objs, "Service")
    assert svc["metadata"]["name"] == "ollama"  # kubectl port-forward svc/<release> 11434
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 11434, "targetPort": "http", "protocol": "TCP"}
    ]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    (pdb,) = gateway(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] == 1


def test_operator_selectors_do_not_pick_gateway_pods() -> None:
    objs = render()
    (dep,) = gateway(objs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"].items()
    others = [o for o in objs if o["kind"] in ("Deployment", "Service") and o not in [dep]]
    for o in others:
        selector = (o["spec"].get("selector") or {}).get("matchLabels") or o["spec"]["selector"]
        if o in gateway(objs, "Service"):
            assert selector.items() <= pod_labels
        else:
            assert not selector.items() <= pod_labels, o["metadata"]["name"]


def test_gateway_values() -> None:
    objs = render(
        "--set", "gateway.replicas=3", "--set", "gateway.holdTimeout=90",
        "--set", "gateway.resources.limits.memory=1Gi", "--set", "gateway.namespaces={team-a}",
    )  # fmt: skip
    (dep,) = gateway(objs, "Deployment")
    assert dep["spec"]["replicas"] == 3
    c = container(objs)
    assert "--hold-timeout=90" in c["args"]
    assert "--namespaces=team-a" in c["args"]
    assert c["resources"]["limits"]["memory"] == "1Gi"
    one = render("--set", "gateway.replicas=1")
    assert not gateway(one, "PodDisruptionBudget")
    off = render("--set", "gateway.enabled=false")
    assert not [o for o in off if o in gateway(off, o["kind"])]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("gateway.replicas=two", "/gateway/replicas"),
        ("gateway.holdTimeout=0", "/gateway/holdTimeout"),
        ("gateway.namespaces={Team_A}", "/gateway/namespaces"),
        ("gateway.bogus=1", "bogus"),
    ],
)
def test_gateway_values_schema(flag: str, message: str) -> None:
    out = helm("template", "x", str(CHART), "--set", flag, check=False)
    assert out.returncode != 0, out.stderr
    assert "schema" in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


def test_gateway_rbac_is_the_contract_cluster_wide() -> None:
    objs = render()
    (role,) = gateway(objs, "ClusterRole")
    assert rules(role) == GATEWAY_RULES
    assert not served(objs, "Role")
    (own,) = peers(objs, "Role")
    assert rules(own) == PEERS_RULES
    assert own["metadata"]["namespace"] == "pasture-system"
    assert "--peers-deployment=pasture-gateway" in container(objs)["args"]
    (binding,) = gateway(objs, "ClusterRoleBinding")
    (sa,) = gateway(objs, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "pasture-system"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--set", "gateway.namespaces={team-a,team-b}"],
        ["--set", "operator.watchNamespaces={team-a,team-b}"],  # follows the operator's
    ],
)
def test_gateway_rbac_is_namespaced_to_what_it_serves(flags: list[str]) -> None:
    objs = render(*flags)
    assert not gateway(objs, "ClusterRole")
    assert not gateway(objs, "ClusterRoleBinding")
    roles = served(objs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(rules(r) == GATEWAY_RULES for r in roles)
    assert [r["metadata"]["namespace"] for r in peers(objs, "Role")] == ["pasture-system"]
    bindings = served(objs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert "--namespaces=team-a,team-b" in container(objs)["args"]


def test_runtime_networkpolicy_admits_the_gateway_pods() -> None:
    """The operator's NetworkPolicy (spec.access) selects the chart's gateway pods by label."""
    from pasture_operator.builders.service import networkpolicy
    from tests.operator.helpers import md

    objs = render(namespace="pasture-system")
    (dep,) = gateway(objs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    from pasture_operator.spec.deployment import DeploymentSpec
    from pasture_operator.spec.owner import Owner

    body = md(access={"namespaces": ["apps"]})
    spec = DeploymentSpec.from_object(body)
    assert spec.access is not None
    policy = networkpolicy(Owner.from_object(body), spec.access, "pasture-system")
    peers = policy["spec"]["ingress"][0]["from"]
    gateway_peers = [
        p
        for p in peers
        if "podSelector" in p
        and p["podSelector"]["matchLabels"].items() <= pod_labels.items()
        and p["namespaceSelector"]["matchLabels"]
        == {"kubernetes.io/metadata.name": dep["metadata"]["namespace"]}
    ]
    assert len(gateway_peers) == 1, peers


def test_gateway_servicemonitor_with_monitoring() -> None:
    assert not gateway(render(), "ServiceMonitor")
    objs = render(
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=kps",
    )  # fmt: skip
    (sm,) = gateway(objs, "ServiceMonitor")
    (svc,) = gateway(objs, "Service")
    assert sm["metadata"]["labels"]["release"] == "kps"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"

"""Service, PodDisruptionBudget, ServiceMonitor and NetworkPolicy for a ModelDeployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasture_operator.builders.meta import deployment_labels, object_meta, selector_labels
from pasture_operator.builders.names import service_name
from pasture_operator.constants import LWS_WORKER_INDEX_LABEL, RUNTIME_PORT
from pasture_operator.spec.deployment import Access, DeploymentSpec
from pasture_operator.spec.owner import Owner

# The gateway's pod labels (the chart's pasture.gatewayLabels). It runs beside the
# operator; admitted by name, so narrowing the operator namespace's peer to the
# operator's own pods would not shut the gateway out.
GATEWAY_POD_LABELS = {
    "app.kubernetes.io/component": "gateway",
    "app.kubernetes.io/part-of": "pasture",
}


def endpoint(owner: Owner, spec: DeploymentSpec) -> str:
    host = service_name(owner.name)
    return f"http://{host}.{owner.namespace}.svc.cluster.local:{spec.service.port}"


def pod_selector(name: str, spec: DeploymentSpec) -> dict[str, str]:
    """The pods serving the API: all of them, or a multi-node replica's leader only
    (a worker runs no API server)."""
    if spec.multi_node:
        return {**selector_labels(name), LWS_WORKER_INDEX_LABEL: "0"}
    return selector_labels(name)


def pod_selector_string(name: str, spec: DeploymentSpec) -> str:
    """status.selector (the scale subresource's): the pods a replica's load is read from."""
    return ",".join(f"{k}={v}" for k, v in pod_selector(name, spec).items())


def service(owner: Owner, spec: DeploymentSpec) -> dict[str, Any]:
    name = owner.name
    svc = spec.service
    return {
        "apiVersion": "v1",
        "kind": "Service",
        # The ModelDeployment's own name unless it is no DNS-1035 label (`qwen2.5`).
        "metadata": object_meta(
            owner, service_name(name), deployment_labels(name), svc.annotations
        ),
        "spec": {
            "type": svc.type,
            "selector": pod_selector(name, spec),
            "ports": [{"name": "http", "port": svc.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pdb(owner: Owner) -> dict[str, Any]:
    """Keep all but one pod through voluntary disruptions (drains, upgrades)."""
    name = owner.name
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(owner, name, deployment_labels(name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(name)}},
    }


def servicemonitor(owner: Owner, extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`extra_labels` (operator setting) are what a Prometheus' serviceMonitorSelector
    matches, e.g. kube-prometheus-stack's `release: <its release name>`."""
    name = owner.name
    labels = {**(extra_labels or {}), **deployment_labels(name)}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": object_meta(owner, name, labels),
        "spec": {
            "selector": {"matchLabels": selector_labels(name)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def _group_ingress(name: str, group: bool) -> list[dict[str, Any]]:
    """A multi-node group's pods reach each other on every port: torch.distributed's
    rendezvous on the leader and NCCL/Gloo's connections, whose ports are chosen at run time."""
    if not group:
        return []
    return [{"from": [{"podSelector": {"matchLabels": selector_labels(name)}}]}]


def networkpolicy(
    owner: Owner, access: Access, operator_namespace: str | None = None, *, group: bool = False
) -> dict[str, Any]:
    """Admit the named namespaces/pods, the metrics scraper's namespace, the
    operator's (its autoscaler scrapes the pods) and the gateway's pods; nothing else."""
    name = owner.name
    peers: list[dict[str, Any]] = []
    for ns in access.namespaces:
        peers.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}})
    if access.pod_selector:
        peers.append({"podSelector": {"matchLabels": dict(access.pod_selector)}})
    for ns in dict.fromkeys(n for n in (access.metrics_namespace, operator_namespace) if n):
        peers.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}})
    if operator_namespace:  # the chart's gateway pods (charts/pasture/templates/gateway.yaml)
        gateway_ns = {"kubernetes.io/metadata.name": operator_namespace}
        gateway_pods = {"matchLabels": dict(GATEWAY_POD_LABELS)}
        peers.append(
            {"namespaceSelector": {"matchLabels": gateway_ns}, "podSelector": gateway_pods}
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(owner, name, deployment_labels(name)),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": peers, "ports": [{"port": RUNTIME_PORT, "protocol": "TCP"}]},
                *_group_ingress(name, group),
            ],
        },
    }

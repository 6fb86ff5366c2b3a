"""Service, PodDisruptionBudget, ServiceMonitor and NetworkPolicy for a ModelDeployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasture_operator.builders.meta import deployment_labels, object_meta, selector_labels
from pasture_operator.builders.names import service_name
from pasture_operator.constants import RUNTIME_PORT

# The gateway's pod labels (the chart's pasture.gatewayLabels). It runs beside the
# operator; admitted by name, so narrowing the operator namespace's peer to the
# operator's own pods would not shut the gateway out.
GATEWAY_POD_LABELS = {
    "app.kubernetes.io/component": "gateway",
    "app.kubernetes.io/part-of": "pasture",
}


def service_port(md: Mapping[str, Any]) -> int:
    return int(((md.get("spec") or {}).get("service") or {}).get("port") or RUNTIME_PORT)


def endpoint(md: Mapping[str, Any]) -> str:
    meta = md["metadata"]
    host = service_name(str(meta["name"]))
    return f"http://{host}.{meta['namespace']}.svc.cluster.local:{service_port(md)}"


def service(md: Mapping[str, Any]) -> dict[str, Any]:
    name = str(md["metadata"]["name"])
    svc: Mapping[str, Any] = (md.get("spec") or {}).get("service") or {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        # The ModelDeployment's own name unless it is no DNS-1035 label (`qwen2.5`).
        "metadata": object_meta(
            md, service_name(name), deployment_labels(name), svc.get("annotations")
        ),
        "spec": {
            "type": svc.get("type") or "ClusterIP",
            "selector": selector_labels(name),
            "ports": [
                {"name": "http", "port": service_port(md), "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def pdb(md: Mapping[str, Any]) -> dict[str, Any]:
    """Keep all but one pod through voluntary disruptions (drains, upgrades)."""
    name = str(md["metadata"]["name"])
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(md, name, deployment_labels(name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(name)}},
    }


def servicemonitor(
    md: Mapping[str, Any], extra_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`extra_labels` (operator setting) are what a Prometheus' serviceMonitorSelector
    matches, e.g. kube-prometheus-stack's `release: <its release name>`."""
    name = str(md["metadata"]["name"])
    labels = {**(extra_labels or {}), **deployment_labels(name)}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": object_meta(md, name, labels),
        "spec": {
            "selector": {"matchLabels": selector_labels(name)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def networkpolicy(md: Mapping[str, Any], operator_namespace: str | None = None) -> dict[str, Any]:
    """Admit the named namespaces/pods, the metrics scraper's namespace, the
    operator's (its autoscaler scrapes the pods) and the gateway's pods; nothing else."""
    name = str(md["metadata"]["name"])
    access: Mapping[str, Any] = (md.get("spec") or {}).get("access") or {}
    peers: list[dict[str, Any]] = []
    for ns in access.get("namespaces") or []:
        peers.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}})
    if access.get("podSelector"):
        peers.append({"podSelector": {"matchLabels": dict(access["podSelector"])}})
    metrics_ns = access.get("metricsNamespace") or "monitoring"
    for ns in dict.fromkeys(n for n in (metrics_ns, operator_namespace) if n):
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
        "metadata": object_meta(md, name, deployment_labels(name)),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(name)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"port": RUNTIME_PORT, "protocol": "TCP"}]}],
        },
    }

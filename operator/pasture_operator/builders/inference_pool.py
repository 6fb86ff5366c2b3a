"""An InferencePool (Gateway API Inference Extension) for a ModelDeployment.

Where the InferencePool CRD is installed, the operator creates one per
ModelDeployment, so a cluster's own inference gateway (Envoy Gateway, Istio,
GKE, kgateway: an HTTPRoute with an InferencePool backendRef) can route to
Pasture's pods through its endpoint picker. The pool selects the runtime pods
by the Deployment's selector labels on the runtime port; the runtimes' /metrics
carry the vLLM series pickers read (queue, KV cache usage).

The picker is not Pasture's: the pool names a Service `<name>-epp` on port
9002 (the picker's default port) in the same namespace (`endpoint_picker_name`), which the cluster's
operator deploys (e.g. the upstream `inferencepool` chart's picker, pointed at
this pool). Schema: inference.networking.k8s.io/v1 (selector.matchLabels,
targetPorts, endpointPickerRef).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasture_operator.builders.meta import deployment_labels, object_meta, selector_labels
from pasture_operator.builders.names import service_name
from pasture_operator.constants import RUNTIME_PORT
from pasture_operator.spec.owner import Owner

INFERENCE_POOL_API = "inference.networking.k8s.io/v1"
INFERENCE_POOL_KIND = "InferencePool"
ENDPOINT_PICKER_PORT = 9002


def endpoint_picker_name(deployment_name: str) -> str:
    """A Service name (DNS-1035) even for a ModelDeployment named like `qwen2.5`."""
    return service_name(f"{deployment_name}-epp")


def inference_pool(owner: Owner, selector: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`selector`: the pods serving the API when not all of them do (a multi-node
    replica's leader only: builders/service.py's pod_selector)."""
    name = owner.name
    return {
        "apiVersion": INFERENCE_POOL_API,
        "kind": INFERENCE_POOL_KIND,
        "metadata": object_meta(owner, name, deployment_labels(name)),
        "spec": {
            "selector": {"matchLabels": dict(selector or selector_labels(name))},
            "targetPorts": [{"number": RUNTIME_PORT}],
            "endpointPickerRef": {
                "group": "",
                "kind": "Service",
                "name": endpoint_picker_name(name),
                "port": {"number": ENDPOINT_PICKER_PORT},
            },
        },
    }

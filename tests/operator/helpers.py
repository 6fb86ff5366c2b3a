"""Object factories for the operator's unit tests."""

from __future__ import annotations

from typing import Any


def model(
    name: str = "tiny", spec: dict[str, Any] | None = None, phase: str | None = "Ready"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1},
        "spec": spec if spec is not None else {"source": {"huggingFace": {"repo": "org/tiny"}}},
    }
    if phase:
        body["status"] = {"phase": phase, "message": f"model is {phase}"}
    return body


def md(name: str = "tiny", **spec: Any) -> dict[str, Any]:
    full: dict[str, Any] = {"modelRef": {"name": "tiny"}, "replicas": 1}
    full.update(spec)
    return {
        "apiVersion": "pasture.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-md-{name}", "generation": 3},
        "spec": full,
    }


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "status": status}

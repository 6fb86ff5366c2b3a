"""API-shaped dicts for the gateway's pure tests."""

from __future__ import annotations

from typing import Any


def model(name: str = "tiny", ns: str = "ns", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "generation": 1,
                     "creationTimestamp": "2026-11-28T10:00:00Z"},
        "spec": {"servedName": f"{name}:latest", **spec},
        "status": {"phase": "Ready", "servedName": f"{name}:latest", "bytesTotal": 1234},
    }  # fmt: skip


def md(
    name: str = "tiny",
    ns: str = "ns",
    served: tuple[str, ...] = ("tiny:latest",),
    replicas: int = 1,
    model_ref: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"modelRef": {"name": model_ref or name}, "replicas": replicas, **spec},
        "status": {"servedNames": list(served)},
    }


def pod(
    name: str,
    deployment: str = "tiny",
    ns: str = "ns",
    ip: str | None = "10.0.0.1",
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": {"pasture.dev/deployment": deployment},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-28T10:00:00Z"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"] = ip
    return {"metadata": meta, "status": status}

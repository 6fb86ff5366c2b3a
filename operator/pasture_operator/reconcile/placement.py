"""Where a ModelDeployment's pods run and which GPUs they request: its spec merged
with the GPU profile it names (`spec.resources.profile`, gpu_profiles.py).

The profile gives defaults; what the spec sets explicitly wins:

- GPU resource name: `resources.gpuResourceName` if set, else the profile's
  `resourceName`, else nvidia.com/gpu.
- GPU count: `resources.gpus` if set (an explicit 0 included), else the profile's
  `gpus`, else 0.
- node selector: the profile's labels, with `spec.nodeSelector` winning key by key.
- tolerations: the profile's, then the spec's that are not already there (a
  missing `operator` counts as Equal); then, when the pod requests GPUs and no
  toleration has the GPU resource name as key, one for that taint (GPU nodes
  carry it: GPU operator, cloud node pools).

"Set" means present in the object. The CRD therefore has no schema defaults for
`resources.gpus` and `resources.gpuResourceName` (a default would be written into
every object and always win); the built-in defaults above apply here instead.
Objects stored before those defaults were dropped still carry `gpus: 0` and
`gpuResourceName: nvidia.com/gpu`, which then win over a profile; remove them
from the object to let the profile decide (docs/operator.md).

Pure: spec and profile in, Placement out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pasture_operator.constants import DEFAULT_GPU_RESOURCE
from pasture_operator.gpu_profiles import GpuProfile
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.placement import Placement

__all__ = ["Placement", "merge_tolerations", "placement", "unknown_profile_message"]


def unknown_profile_message(name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    if not names:
        return (
            f"GPU profile {name!r} is not known: the operator has no GPU profiles "
            "(the chart's gpuProfiles value, or a file named by PASTURE_GPU_PROFILES)"
        )
    return f"GPU profile {name!r} is not known; known profiles: {', '.join(names)}"


def _toleration_key(t: Mapping[str, Any]) -> str:
    normal = {
        **t,
        "key": t.get("key") or "",
        "operator": t.get("operator") or "Equal",
        "value": t.get("value") or "",
        "effect": t.get("effect") or "",
    }
    return repr(sorted((str(k), repr(v)) for k, v in normal.items() if v is not None))


def merge_tolerations(
    *lists: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The tolerations of every list in order, each once."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for tolerations in lists:
        for t in tolerations:
            key = _toleration_key(t)
            if key not in seen:
                seen.add(key)
                out.append(dict(t))
    return out


def placement(spec: DeploymentSpec, profile: GpuProfile | None) -> Placement:
    """The effective GPU request and placement of a ModelDeployment (rule: module doc)."""
    res = spec.resources
    if res.gpu_resource_name:
        resource = res.gpu_resource_name
    elif profile is not None:
        resource = profile.resource_name
    else:
        resource = DEFAULT_GPU_RESOURCE
    if res.gpus is not None:
        gpus = res.gpus
    elif profile is not None:
        gpus = profile.gpus
    else:
        gpus = 0
    selector = {**(profile.node_selector if profile is not None else {}), **spec.node_selector}
    tolerations = merge_tolerations(
        profile.tolerations if profile is not None else (), spec.tolerations
    )
    if gpus > 0 and not any(t.get("key") == resource for t in tolerations):
        tolerations.append({"key": resource, "operator": "Exists", "effect": "NoSchedule"})
    return Placement(
        gpus=gpus,
        resource_name=resource,
        node_selector={str(k): str(v) for k, v in selector.items()},
        tolerations=tuple(tolerations),
        profile=profile.name if profile is not None else None,
    )

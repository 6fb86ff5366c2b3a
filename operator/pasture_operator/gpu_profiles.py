"""Named GPU profiles: presets of GPU resource name, count, node selector and
tolerations that a ModelDeployment selects with `spec.resources.profile`.

The Helm chart renders its `gpuProfiles` value into a ConfigMap mounted into the
operator and points `PASTURE_GPU_PROFILES` at the file (`profiles.yaml`); the
operator reads it once at start (`load_profiles`) and fails fast when it is
unreadable or invalid. The file is a mapping of profile name to profile:

    nvidia-a100-80gb:
      resourceName: nvidia.com/gpu      # required: the extended resource per GPU
      gpus: 1                           # optional, default 1
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]

The same rules as the chart's values.schema.json (and the CRD's limits) apply,
so a file the chart renders always loads. How a profile merges with a
ModelDeployment's spec is `reconcile/placement.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The ModelDeployment CRD's `resources.profile` rule and the chart's propertyNames.
PROFILE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PROFILE_NAME_MAX = 63
# The CRD's `resources.gpuResourceName` rule.
RESOURCE_NAME = re.compile(r"^[a-z0-9.-]+/[a-z0-9._-]+$")
MAX_GPUS = 64  # the CRD's maximum of resources.gpus
DEFAULT_PROFILE_GPUS = 1

_PROFILE_KEYS = {"resourceName", "gpus", "nodeSelector", "tolerations"}
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_TOLERATION_OPERATORS = {"Exists", "Equal"}
_TAINT_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


class GpuProfileError(ValueError):
    """The profiles file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class GpuProfile:
    name: str
    resource_name: str
    gpus: int = DEFAULT_PROFILE_GPUS
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()


def _toleration(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise GpuProfileError(f"{where}: a toleration must be a mapping, got {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in _TOLERATION_KEYS)
    if unknown:
        raise GpuProfileError(
            f"{where}: unknown toleration field(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(_TOLERATION_KEYS))})"
        )
    for key in ("key", "operator", "value", "effect"):
        if key in raw and not isinstance(raw[key], str):
            raise GpuProfileError(f"{where}.{key} must be a string, got {raw[key]!r}")
    if raw.get("operator", "Equal") not in _TOLERATION_OPERATORS:
        raise GpuProfileError(f"{where}.operator must be Exists or Equal, got {raw['operator']!r}")
    if raw.get("effect") and raw["effect"] not in _TAINT_EFFECTS:
        raise GpuProfileError(
            f"{where}.effect must be one of {', '.join(sorted(_TAINT_EFFECTS))}, "
            f"got {raw['effect']!r}"
        )
    if raw.get("operator") == "Exists" and raw.get("value"):
        raise GpuProfileError(f"{where}.value must be empty when operator is Exists")
    seconds = raw.get("tolerationSeconds")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise GpuProfileError(f"{where}.tolerationSeconds must be an integer, got {seconds!r}")
        if raw.get("effect") != "NoExecute":
            raise GpuProfileError(f"{where}.tolerationSeconds needs effect NoExecute")
    return dict(raw)


def _profile(name: Any, raw: Any) -> GpuProfile:
    if not isinstance(name, str) or len(name) > PROFILE_NAME_MAX or not PROFILE_NAME.match(name):
        raise GpuProfileError(
            f"profile name {name!r} must be lowercase letters, digits and '-' "
            f"(at most {PROFILE_NAME_MAX} characters, starting and ending alphanumeric)"
        )
    where = f"profile {name!r}"
    if not isinstance(raw, Mapping):
        raise GpuProfileError(f"{where} must be a mapping, got {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in _PROFILE_KEYS)
    if unknown:
        raise GpuProfileError(
            f"{where}: unknown field(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(_PROFILE_KEYS))})"
        )
    resource = raw.get("resourceName")
    if not isinstance(resource, str) or not RESOURCE_NAME.match(resource):
        raise GpuProfileError(
            f"{where}: resourceName is required and must be an extended resource name "
            f"like nvidia.com/gpu, got {resource!r}"
        )
    gpus = raw.get("gpus", DEFAULT_PROFILE_GPUS)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= MAX_GPUS:
        raise GpuProfileError(f"{where}: gpus must be an integer in [0, {MAX_GPUS}], got {gpus!r}")
    selector = raw.get("nodeSelector") or {}
    if not isinstance(selector, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in selector.items()
    ):
        raise GpuProfileError(
            f"{where}: nodeSelector must map label names to string values, got {selector!r}"
        )
    tolerations = raw.get("tolerations") or []
    if not isinstance(tolerations, list):
        raise GpuProfileError(f"{where}: tolerations must be a list, got {tolerations!r}")
    return GpuProfile(
        name=name,
        resource_name=resource,
        gpus=gpus,
        node_selector=dict(selector),
        tolerations=tuple(
            _toleration(f"{where}: tolerations[{i}]", t) for i, t in enumerate(tolerations)
        ),
    )


def parse_profiles(data: Any) -> dict[str, GpuProfile]:
    """Profiles by name from the parsed YAML document (None or {} is no profiles)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise GpuProfileError(
            f"the document must map profile names to profiles, got {type(data).__name__}"
        )
    return {str(name): _profile(name, raw) for name, raw in data.items()}


def load_profiles(path: str | Path) -> dict[str, GpuProfile]:
    """Read and validate a profiles file; GpuProfileError names the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GpuProfileError(f"cannot read GPU profiles file {str(path)!r}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GpuProfileError(f"GPU profiles file {str(path)!r} is not valid YAML: {e}") from e
    try:
        return parse_profiles(data)
    except GpuProfileError as e:
        raise GpuProfileError(f"GPU profiles file {str(path)!r}: {e}") from e

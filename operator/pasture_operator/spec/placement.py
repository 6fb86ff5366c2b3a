"""Where a ModelDeployment's pods run and which GPUs they request (reconcile/placement.py
derives it; builders/deployment.py writes it into the pod template)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pasture_operator.constants import DEFAULT_GPU_RESOURCE


@dataclass(frozen=True)
class Placement:
    """What the pod template gets: GPU request, node selector and tolerations."""

    gpus: int
    resource_name: str = DEFAULT_GPU_RESOURCE
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    profile: str | None = None  # the profile merged in, if any

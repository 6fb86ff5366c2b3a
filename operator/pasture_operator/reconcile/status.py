"""What a plan hands the controller to write besides children: the status merge
patch and the Events to post. Pure: old and new status in, patch out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch turning `old` into `new` (None when equal); absent keys are nulled.

    Nested objects (status.autoscaling) are diffed the same way: a merge patch
    merges them, so a key dropped from `new` must be nulled explicitly.
    """
    old = old or {}
    patch: dict[str, Any] = {}
    for k, v in new.items():
        before = old.get(k)
        if before == v:
            continue
        if isinstance(before, Mapping) and isinstance(v, Mapping):
            patch[k] = status_patch(before, v)
        else:
            patch[k] = v
    patch.update({k: None for k in old if k not in new})
    return patch or None

"""Is an existing object ours to apply over? Pasture never adopts what it did not create.

Server-side apply with force would merge our ownerReference into any object
that happens to have a child's name (a user's Service, or a `<model>-cache`
PVC whose data the garbage collector would then delete with the Model). As
controller-runtime's `AlreadyOwnedError`, an object is ours only when its
controller ownerReference names our owner's UID; anything else is refused and
reported, never changed. Unlike controller-runtime we do not adopt orphans
either: an object without a controller may be a user's, and adopting it hands
its data to the garbage collector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONFLICT_REASON = "ChildConflict"


@dataclass(frozen=True)
class Conflict:
    kind: str
    name: str
    holder: str  # who controls it, in words

    @property
    def message(self) -> str:
        return (
            f"{self.kind} {self.name} already exists and is {self.holder}; Pasture will not "
            "adopt or change it: delete or rename it (or rename this object)"
        )


def controller_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def conflict(existing: Mapping[str, Any] | None, kind: str, owner_uid: str) -> Conflict | None:
    """None when `existing` is absent or controlled by the owner with `owner_uid`."""
    if existing is None:
        return None
    name = str((existing.get("metadata") or {}).get("name") or "")
    ref = controller_of(existing)
    if ref is None:
        return Conflict(kind, name, "not managed by Pasture (it has no controller)")
    if ref.get("uid") == owner_uid:
        return None
    return Conflict(kind, name, f"controlled by {ref.get('kind')} {ref.get('name')}")


def summary(conflicts: Sequence[Conflict]) -> str:
    return "; ".join(c.message for c in conflicts)


def refused(conflicts: Sequence[Conflict]) -> set[tuple[str, str]]:
    return {(c.kind, c.name) for c in conflicts}

"""The watched objects and the routing table built from them. Every change
rebuilds the table (pure, routing.table) and wakes whoever waits for one
(held requests waiting for a ready pod)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..routing.table import RoutingTable, build_table

KINDS = ("Model", "ModelDeployment", "Pod")


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


class Store:
    def __init__(self, expected_lists: int) -> None:
        self._objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self._listed: set[tuple[str, str]] = set()
        self._expected = expected_lists
        self._changed = asyncio.Event()
        self.table = RoutingTable()

    @property
    def synced(self) -> bool:
        """Every watch has listed once: the table is the cluster's, not partial."""
        return len(self._listed) >= self._expected

    def replace(self, kind: str, scope: str, items: list[dict[str, Any]]) -> None:
        objs = self._objects[kind]
        for key in [k for k in objs if not scope or k.startswith(f"{scope}/")]:
            del objs[key]
        for obj in items:
            objs[_key(obj)] = obj
        self._listed.add((kind, scope))
        self._rebuild()

    def event(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        if type_ == "DELETED":
            self._objects[kind].pop(_key(obj), None)
        else:
            self._objects[kind][_key(obj)] = obj
        self._rebuild()

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The watched object as last seen (management reads Model status here)."""
        return self._objects[kind].get(f"{namespace}/{name}")

    def _rebuild(self) -> None:
        self.table = build_table(
            self._objects["Model"].values(),
            self._objects["ModelDeployment"].values(),
            self._objects["Pod"].values(),
        )
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    async def wait_changed(self) -> None:
        """Until the next change."""
        await self._changed.wait()

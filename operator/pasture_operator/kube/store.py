"""An in-memory view of the objects the operator watches, fed by kopf's watch events.

Reconciles read from here instead of listing on every pass (200 deployments
would otherwise cost 1,000+ GETs per resync). Writes the operator makes are
folded in from their responses, so the next pass does not see stale copies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

Key = tuple[str, str]  # (namespace, name)


def resource_version(body: Mapping[str, Any]) -> int:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:  # resourceVersion is opaque; etcd's are integers
        return 0


class Store:
    def __init__(self) -> None:
        self._objects: dict[str, dict[Key, dict[str, Any]]] = defaultdict(dict)

    def put(self, kind: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta["name"]))
        old = self._objects[kind].get(key)
        # Never go back in time (a watch event may arrive after our own write's response).
        if (
            old is not None
            and resource_version(old) > resource_version(body)
            and (old.get("metadata") or {}).get("uid") == meta.get("uid")
        ):
            return
        self._objects[kind][key] = dict(body)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        self._objects[kind].pop((namespace, name), None)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects[kind].get((namespace, name))

    def in_namespace(self, kind: str, namespace: str) -> Iterator[dict[str, Any]]:
        return (b for (ns, _), b in list(self._objects[kind].items()) if ns == namespace)

    def labelled(self, kind: str, namespace: str, label: str, value: str) -> list[dict[str, Any]]:
        return [
            b
            for b in self.in_namespace(kind, namespace)
            if ((b.get("metadata") or {}).get("labels") or {}).get(label) == value
        ]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return list(self._objects[kind].values())

    def keys(self, kind: str) -> list[Key]:
        return list(self._objects[kind])

    def count(self, kind: str) -> int:
        return len(self._objects[kind])

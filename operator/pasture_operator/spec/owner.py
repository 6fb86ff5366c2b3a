"""The object that owns generated children: what their metadata and owner reference need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Owner:
    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str
    generation: int = 0

    @classmethod
    def from_object(cls, body: Mapping[str, Any]) -> Owner:
        meta: Mapping[str, Any] = body["metadata"]
        return cls(
            api_version=str(body.get("apiVersion") or ""),
            kind=str(body.get("kind") or ""),
            name=str(meta["name"]),
            namespace=str(meta.get("namespace") or ""),
            uid=str(meta.get("uid") or ""),
            generation=int(meta.get("generation") or 0),
        )

"""The gateway's own answers for the cluster (tags, ps, models, show when no
replica is up), from the routing table."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..kube.store import Store
from ..protocol import errors, listing
from ..protocol.errors import ErrorReply
from ..routing.names import display_name
from ..routing.table import Conflict, Found, NotFound
from .demand import Demand


@dataclass(frozen=True)
class Forward:
    """/api/show for a model with a ready replica: ask the replica (body as sent)."""

    body: bytes


class Listings:
    def __init__(self, store: Store, demand: Demand) -> None:
        self.store = store
        self.demand = demand

    def tags(self) -> dict[str, Any]:
        return listing.tags(self.store.table)

    def ps(self) -> dict[str, Any]:
        return listing.ps(self.store.table, self.demand.last_request, time.time())

    def models(self) -> dict[str, Any]:
        return listing.openai_models(self.store.table)

    def model(self, name: str) -> dict[str, Any] | ErrorReply:
        wanted = display_name(name).lower()
        for entry in self.models()["data"]:
            if str(entry["id"]).lower() == wanted:
                return dict(entry)
        return ErrorReply(404, f"The model `{name}` does not exist.", code="model_not_found")

    def show(self, body: bytes) -> dict[str, Any] | ErrorReply | Forward:
        try:
            doc = json.loads(body) if body.strip() else None
        except ValueError as e:
            return ErrorReply(400, str(e))
        if not isinstance(doc, dict):
            return ErrorReply(400, errors.MISSING_BODY)
        name = doc.get("model") or doc.get("name")
        if not isinstance(name, str) or not name.strip():
            return ErrorReply(400, errors.MODEL_REQUIRED)
        found = self.store.table.resolve(name)
        if isinstance(found, NotFound):
            return errors.not_found("/api/show", name)
        if isinstance(found, Conflict):
            return errors.conflict(name, found.deployments)
        assert isinstance(found, Found)
        if found.deployment.ready:
            return Forward(json.dumps({**doc, "model": name}).encode())
        return listing.show_from_model(name, self.store.table.model_of(found.deployment))

"""The gateway's own answers for the cluster (tags, ps, models, show when no
replica is up), from the routing table."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from ..auth import ApiKeys
from ..kube.store import Store
from ..protocol import errors, listing
from ..protocol.errors import ErrorReply
from ..routing.names import display_name, normalize
from ..routing.objects import Deployment
from ..routing.table import Conflict, Found, NotFound
from ..upstream.client import ConnectFailed, MidStreamFailure, Upstream
from .demand import Demand


@dataclass(frozen=True)
class Forward:
    """/api/show for a model with a ready replica: ask the replica (body as sent)."""

    body: bytes


class Listings:
    def __init__(
        self,
        store: Store,
        demand: Demand,
        upstream: Upstream | None = None,
        upstream_key: ApiKeys | None = None,
    ) -> None:
        self.store = store
        self.demand = demand
        self.upstream = upstream
        self.upstream_key = upstream_key  # runtimes that require a key take the gateway's
        # md key -> (Model version, name key -> a replica's /api/tags entry); kept
        # after a scale to zero, so listings keep the real figures.
        self._seen: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {}

    async def tags(self) -> dict[str, Any]:
        await self._learn()
        table = self.store.table
        seen = {
            key: names
            for key, (version, names) in self._seen.items()
            if key in table.deployments and version == self._version(key)
        }
        return listing.tags(table, seen)

    def _version(self, key: str) -> str:
        facts = self.store.table.model_of(self.store.table.deployments[key])
        return facts.digest if facts else ""

    async def _learn(self) -> None:
        """Ask one ready replica per ModelDeployment not yet seen (1 s bound)."""
        table = self.store.table
        todo = [
            d
            for key, d in table.deployments.items()
            if d.ready and self._seen.get(key, ("",))[0] != self._version(key)
        ]
        if self.upstream is None or not todo:
            return
        await asyncio.gather(*(self._ask(d) for d in todo))

    async def _ask(self, d: Deployment) -> None:
        assert self.upstream is not None
        try:
            async with asyncio.timeout(1):
                key = self.upstream_key.first() if self.upstream_key else None
                auth = [("authorization", f"Bearer {key}")] if key else []
                r = await self.upstream.open(d.ready[0].address, "GET", "/api/tags", auth, b"")
                try:
                    body = json.loads(await r.read()) if r.status == 200 else {}
                finally:
                    r.close()
        except (ConnectFailed, MidStreamFailure, TimeoutError, ValueError):
            return
        entries = body.get("models") if isinstance(body, dict) else None
        if isinstance(entries, list):
            names = {normalize(str(e.get("name"))): e for e in entries if isinstance(e, dict)}
            self._seen[d.key] = (self._version(d.key), names)

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

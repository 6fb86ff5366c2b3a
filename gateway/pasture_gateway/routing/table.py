"""The routing table: every served name -> the ModelDeployment(s) serving it,
with their ready endpoints. Rebuilt (pure) from the watched objects on every change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .names import normalize
from .objects import (
    Deployment,
    Endpoint,
    ModelFacts,
    parse_deployment,
    parse_model,
    ready_endpoint,
)


@dataclass(frozen=True)
class Found:
    deployment: Deployment


@dataclass(frozen=True)
class NotFound:
    pass


@dataclass(frozen=True)
class Conflict:
    deployments: tuple[Deployment, ...]


Resolution = Found | NotFound | Conflict


@dataclass(frozen=True)
class RoutingTable:
    deployments: Mapping[str, Deployment] = field(default_factory=dict)  # ns/name ->
    models: Mapping[str, ModelFacts] = field(default_factory=dict)  # ns/name ->
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name key -> md keys

    def resolve(self, name: str) -> Resolution:
        keys = self.routes.get(normalize(name), ()) if name.strip() else ()
        if not keys:
            return NotFound()
        if len(keys) > 1:
            return Conflict(tuple(self.deployments[k] for k in keys))
        return Found(self.deployments[keys[0]])

    def model_of(self, deployment: Deployment) -> ModelFacts | None:
        return self.models.get(f"{deployment.namespace}/{deployment.model}")

    def names_of(self, deployment: Deployment) -> tuple[str, ...]:
        """Every name the deployment serves, listing form, in order, once each."""
        names = list(deployment.served_names)
        facts = self.model_of(deployment)
        if facts is not None:
            names.extend(facts.aliases)
        seen: dict[str, str] = {}
        for n in names:
            seen.setdefault(normalize(n), n)
        return tuple(seen.values())


def build_table(
    models: Iterable[Mapping[str, Any]],
    deployments: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
) -> RoutingTable:
    facts = {f"{m.namespace}/{m.name}": m for m in map(parse_model, models)}
    ready: dict[str, list[Endpoint]] = {}
    for pod in pods:
        found = ready_endpoint(pod)
        if found is not None:
            ready.setdefault(found[0], []).append(found[1])
    mds: dict[str, Deployment] = {}
    for d in map(parse_deployment, deployments):
        eps = tuple(sorted(ready.get(d.key, ()), key=lambda e: e.pod))
        mds[d.key] = replace(d, ready=eps)
    table = RoutingTable(deployments=mds, models=facts)
    routes: dict[str, list[str]] = {}
    for key in sorted(mds):
        for name in table.names_of(mds[key]):
            owners = routes.setdefault(normalize(name), [])
            if key not in owners:
                owners.append(key)
    return replace(table, routes={k: tuple(v) for k, v in routes.items()})

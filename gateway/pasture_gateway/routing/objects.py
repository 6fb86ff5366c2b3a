"""Frozen views of the watched objects, parsed once from the API's dicts."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEPLOYMENT_LABEL = "pasture.dev/deployment"
# A multi-node replica is a LeaderWorkerSet group: only its leader (index 0)
# serves HTTP; the workers are engine ranks with no API (docs/multinode.md).
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
RUNTIME_PORT = 11434
STRATEGIES = ("leastLoad", "prefixHash")
DEFAULT_STRATEGY = "prefixHash"


@dataclass(frozen=True)
class Endpoint:
    pod: str
    address: str  # "ip:port"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class ModelFacts:
    """What /api/tags and /api/show say about a Model when no pod is up."""

    namespace: str
    name: str
    served_name: str
    aliases: tuple[str, ...]
    kind: str  # generation | embedding
    phase: str
    size_bytes: int
    digest: str
    modified_at: str
    dtype: str
    context_length: int
    system: str
    template: str
    license: str
    parameters: tuple[tuple[str, Any], ...]
    # The weights' content digest (status.digest, "sha256:<hex>" -> 64 hex), what
    # /api/tags reports; "" when the Model has none (not a cached download).
    weights_digest: str = ""


@dataclass(frozen=True)
class Deployment:
    namespace: str
    name: str
    model: str  # spec.modelRef.name
    replicas: int  # spec.replicas (what the scale subresource sets)
    served_names: tuple[str, ...]
    strategy: str
    idle_timeout: str
    conditions: tuple[Condition, ...]
    ready: tuple[Endpoint, ...] = ()
    # Requests one replica runs at once (the runtime's admission): the gateway
    # queues fairly beyond ready x this (docs/gateway.md, Limits and fairness).
    max_running: int = 256

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_model(obj: Mapping[str, Any]) -> ModelFacts:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    engine = spec.get("engine") or {}
    served = str(status.get("servedName") or spec.get("servedName") or meta.get("name") or "")
    # The runtime's digest hashes the weight files; without them the gateway
    # names this Model's version instead (stable until the Model changes).
    version = (
        f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid')}/{meta.get('generation')}"
    )
    return ModelFacts(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        served_name=served,
        aliases=tuple(str(a) for a in spec.get("aliases") or ()),
        # status.kind: the effective kind (a library Model's comes from the catalog).
        kind=str(status.get("kind") or spec.get("kind") or "generation"),
        phase=str(status.get("phase") or "Pending"),
        size_bytes=_int(status.get("bytesTotal")),
        digest=hashlib.sha256(version.encode()).hexdigest(),
        modified_at=str(meta.get("creationTimestamp") or "1970-01-01T00:00:00Z"),
        dtype=str(engine.get("dtype") or "auto"),
        context_length=_int(engine.get("maxContext")),
        system=str(spec.get("system") or ""),
        template=str(spec.get("template") or ""),
        license=str(spec.get("license") or ""),
        parameters=tuple(sorted((spec.get("parameters") or {}).items())),
        weights_digest=str(status.get("digest") or "").removeprefix("sha256:"),
    )


def parse_deployment(obj: Mapping[str, Any]) -> Deployment:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    routing = spec.get("routing") or {}
    strategy = str(routing.get("strategy") or DEFAULT_STRATEGY)
    autoscaling = spec.get("autoscaling") or {}
    return Deployment(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        model=str((spec.get("modelRef") or {}).get("name") or ""),
        replicas=_int(spec.get("replicas"), 1),
        served_names=tuple(str(n) for n in status.get("servedNames") or ()),
        strategy=strategy if strategy in STRATEGIES else DEFAULT_STRATEGY,
        idle_timeout=str(autoscaling.get("idleTimeout") or "5m"),
        max_running=_max_running(spec),
        conditions=tuple(
            Condition(
                str(c.get("type") or ""),
                str(c.get("status") or ""),
                str(c.get("reason") or ""),
                str(c.get("message") or ""),
            )
            for c in status.get("conditions") or ()
        ),
    )


def _max_running(spec: Mapping[str, Any]) -> int:
    """spec.server.maxRunning, else the engine's maxNumSeqs (as the runtime
    takes them), else vLLM's default max_num_seqs."""
    server, engine = spec.get("server") or {}, spec.get("engine") or {}
    return max(1, _int(server.get("maxRunning") or engine.get("maxNumSeqs"), 256))


def ready_endpoint(pod: Mapping[str, Any]) -> tuple[str, Endpoint] | None:
    """(namespace/deployment, endpoint) of a ready, running, not-terminating pod."""
    meta, status = _meta(pod), pod.get("status") or {}
    labels = meta.get("labels") or {}
    deployment = labels.get(DEPLOYMENT_LABEL)
    ip = status.get("podIP")
    if not deployment or not ip or meta.get("deletionTimestamp"):
        return None
    if labels.get(WORKER_INDEX_LABEL, "0") != "0":
        return None  # a group's worker: no API to route to
    if status.get("phase") != "Running":
        return None
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    if not ready:
        return None
    host = f"[{ip}]" if ":" in ip else ip
    key = f"{meta.get('namespace')}/{deployment}"
    return key, Endpoint(str(meta.get("name") or ""), f"{host}:{RUNTIME_PORT}")

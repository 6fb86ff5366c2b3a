"""A typed, frozen view of a Model's spec (the CRD's defaults applied once, here).

Fields the Modelfile can also set (system, template, license, messages,
parameters, adapters) keep None / empty for "not set": reconcile/resolve.py
lets the explicit spec win over the Modelfile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def cache_claim_name(model_name: str) -> str:
    """The cache PVC a cached Model downloads into (builders/cache.py makes it)."""
    return f"{model_name}-cache"


def served_name(name: str, spec_served_name: Any) -> str:
    """`spec.servedName`, else the object's name; with Ollama's `:latest` tag when untagged."""
    served = str(spec_served_name or name)
    return served if ":" in served.rsplit("/", 1)[-1] else f"{served}:latest"


@dataclass(frozen=True)
class CacheSpec:
    """spec.cache: the PVC the weights are downloaded into once."""

    size: str
    # ReadWriteOnce binds on every StorageClass but keeps all readers on one node;
    # ReadWriteMany (a file StorageClass) lets replicas spread (docs/operator.md).
    access_mode: str = "ReadWriteOnce"
    storage_class_name: str | None = None

    @classmethod
    def from_spec(cls, cache: Mapping[str, Any]) -> CacheSpec:
        return cls(
            size=str(cache.get("size")),
            access_mode=str(cache.get("accessMode") or "ReadWriteOnce"),
            storage_class_name=str(cache["storageClassName"])
            if cache.get("storageClassName")
            else None,
        )


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the Model object's name
    served_name: str
    source: Mapping[str, Any]  # spec.source as written ({}: take the Modelfile's FROM)
    modelfile: str | None = None
    cache: CacheSpec | None = None
    adapters: tuple[Any, ...] = ()
    parameters: Mapping[str, Any] | None = None
    aliases: tuple[str, ...] = ()
    system: Any = None
    template: Any = None
    license: Any = None
    messages: tuple[Mapping[str, Any], ...] = ()
    # generation | embedding; None: not set (a library entry's kind, else generation)
    kind: str | None = None
    engine: Mapping[str, Any] | None = None  # engine hints (dtype, maxContext, parsers)
    # spec.digest: the weights' manifest digest ("sha256:<hex>") the download must give.
    digest: str | None = None
    # spec.verifyWeights: the runtime hashes the weights against the manifest at start.
    verify_weights: bool = True

    @classmethod
    def from_object(cls, model: Mapping[str, Any]) -> ModelSpec:
        name = str(model["metadata"]["name"])
        spec: Mapping[str, Any] = model.get("spec") or {}
        cache = spec.get("cache")
        return cls(
            name=name,
            served_name=served_name(name, spec.get("servedName")),
            source=dict(spec.get("source") or {}),
            modelfile=str(spec["modelfile"]) if spec.get("modelfile") else None,
            cache=CacheSpec.from_spec(cache) if cache else None,
            adapters=tuple(spec.get("adapters") or ()),
            parameters=spec.get("parameters"),
            aliases=tuple(spec.get("aliases") or ()),
            system=spec.get("system"),
            template=spec.get("template"),
            license=spec.get("license"),
            messages=tuple(dict(m) for m in spec.get("messages") or ()),
            kind=str(spec["kind"]) if spec.get("kind") else None,
            engine=spec.get("engine"),
            digest=str(spec["digest"]) if spec.get("digest") else None,
            verify_weights=spec.get("verifyWeights") is not False,
        )

    @property
    def source_claim(self) -> str | None:
        """The user's PVC a `pvc` source reads from, if any."""
        claim = (self.source.get("pvc") or {}).get("claimName")
        return str(claim) if claim else None

    @property
    def cache_claim(self) -> str:
        return cache_claim_name(self.name)

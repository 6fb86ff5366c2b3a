"""Resolve a Model's spec into what the runtime needs: where the weights are,
its runtime `models[]` entry, engine hints and the volumes to mount.

Explicit spec fields win over the raw Modelfile; the Modelfile's FROM is used
only when `spec.source` is absent. Pure: spec in, ResolvedModel or error out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pasture_operator import catalog, modelfile
from pasture_operator.builders.names import dns_label
from pasture_operator.constants import ADAPTERS_DIR, CACHE_SUBDIR, MODELS_DIR
from pasture_operator.redact import redact_url


class ResolveError(ValueError):
    """The Model cannot be served as written; `reason` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Volume:
    """A PVC the runtime pods mount read-only."""

    name: str
    claim_name: str
    mount_path: str


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # the Model object's name
    served_name: str
    source: dict[str, Any]  # the effective spec.source (after Modelfile FROM)
    source_text: str  # short human form for printer columns
    engine_model: str  # local dir or Hugging Face repo id
    revision: str | None
    hf_token_secret: dict[str, str] | None
    kind: str  # generation | embedding
    engine: dict[str, Any]
    entry: dict[str, Any]  # runtime config models[] entry
    volumes: tuple[Volume, ...] = field(default_factory=tuple)
    cache: dict[str, Any] | None = None
    # The hub repo and revision for huggingFace and library sources (also when cached).
    hub_repo: str = ""
    hub_revision: str | None = None

    @property
    def needs_hub(self) -> bool:
        """Does serving this model fetch anything from the Hugging Face hub at start?"""
        local = self.cache is not None or "pvc" in self.source
        adapter = self.entry.get("adapter") or {}
        hub_adapter = bool(adapter) and not str(adapter.get("path", "")).startswith(ADAPTERS_DIR)
        return not local or hub_adapter

    @property
    def base_key(self) -> tuple[str, ...]:
        """Two Models share base weights when this matches: the weights' source, not
        the in-pod path (every cached Model's weights are at /models/model in its own
        pods, whatever was downloaded there)."""
        src = self.source
        if "pvc" in src:
            return ("pvc", str(src["pvc"]["claimName"]), str(src["pvc"].get("path") or ""))
        if "url" in src:
            return ("url", str(src["url"]["url"]), str(src["url"].get("sha256") or ""))
        return ("hf", self.hub_repo, self.hub_revision or "main")


def served_name(model: Mapping[str, Any]) -> str:
    spec = model.get("spec") or {}
    name = str(spec.get("servedName") or model["metadata"]["name"])
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def cache_claim_name(model_name: str) -> str:
    return f"{model_name}-cache"


def _source_text(source: Mapping[str, Any]) -> str:
    if "huggingFace" in source:
        return f"hf://{source['huggingFace']['repo']}"
    if "pvc" in source:
        path = source["pvc"].get("path") or ""
        return f"pvc://{source['pvc']['claimName']}/{path}".rstrip("/")
    if "url" in source:  # a printer column: never with the URL's credentials
        return redact_url(str(source["url"]["url"]))
    return f"library://{source.get('library', '')}"


def _adapter(name: str, adapters: list[Any]) -> tuple[dict[str, str] | None, list[Volume]]:
    if not adapters:
        return None, []
    first = adapters[0]
    if isinstance(first, str):  # from a Modelfile ADAPTER line
        src = modelfile.source_from(first)
        first = {"name": "adapter", "source": src}
    src = first.get("source") or {}
    if "pvc" in src:
        vol = Volume(
            dns_label(f"adapter-{name}"), src["pvc"]["claimName"], f"{ADAPTERS_DIR}/{name}"
        )
        path = f"{vol.mount_path}/{src['pvc'].get('path') or ''}".rstrip("/")
        return {"path": path}, [vol]
    if "huggingFace" in src:
        return {"path": str(src["huggingFace"]["repo"])}, []
    raise ResolveError("InvalidAdapter", "adapter source must be huggingFace or pvc")


def resolve(model: Mapping[str, Any]) -> ResolvedModel:
    """Resolve one Model; raises ResolveError with a condition reason."""
    meta = model["metadata"]
    name = str(meta["name"])
    spec: Mapping[str, Any] = model.get("spec") or {}
    parsed = modelfile.Modelfile()
    if spec.get("modelfile"):
        try:
            parsed = modelfile.parse(str(spec["modelfile"]))
        except modelfile.ModelfileError as e:
            raise ResolveError("InvalidModelfile", f"modelfile {e}") from e

    source: dict[str, Any] = dict(spec.get("source") or {})
    if not source:
        if not parsed.from_:
            raise ResolveError("InvalidSpec", "spec.source is required without a modelfile FROM")
        source = modelfile.source_from(parsed.from_)

    revision: str | None = None
    token: dict[str, str] | None = None
    volumes: list[Volume] = []
    cache = spec.get("cache")
    if "library" in source:
        entry_ = catalog.resolve(str(source["library"]))
        if entry_ is None:
            raise ResolveError(
                "UnknownLibraryModel",
                f"{source['library']!r} is not in the built-in catalog; name a huggingFace "
                "repo instead (see docs/operator.md for the catalog)",
            )
        engine_model, revision = entry_.repo, entry_.revision
    elif "huggingFace" in source:
        hf = source["huggingFace"]
        engine_model, revision = str(hf["repo"]), str(hf.get("revision") or "main")
        if hf.get("tokenSecret"):
            token = {
                "name": str(hf["tokenSecret"]["name"]),
                "key": str(hf["tokenSecret"].get("key") or "token"),
            }
    elif "pvc" in source:
        pvc = source["pvc"]
        vol = Volume("model", str(pvc["claimName"]), MODELS_DIR)
        volumes.append(vol)
        engine_model = f"{MODELS_DIR}/{pvc.get('path') or ''}".rstrip("/")
    elif "url" in source:
        if not cache:
            raise ResolveError("InvalidSpec", "a url source needs spec.cache")
        engine_model = ""
    else:
        raise ResolveError("InvalidSpec", "source must set one of huggingFace, pvc, url, library")

    hub = (engine_model, revision) if "huggingFace" in source or "library" in source else ("", None)
    if cache:
        # The cache replaces the remote source: pods read the downloaded copy.
        volumes = [Volume("model", cache_claim_name(name), MODELS_DIR)]
        engine_model, revision = f"{MODELS_DIR}/{CACHE_SUBDIR}", None

    adapter, adapter_vols = _adapter(name, list(spec.get("adapters") or parsed.adapters))
    volumes.extend(adapter_vols)

    params: dict[str, Any] = dict(parsed.parameters)
    params.update(spec.get("parameters") or {})
    entry: dict[str, Any] = {
        "name": served_name(model),
        "aliases": list(spec.get("aliases") or []),
        "system": spec.get("system", parsed.system),
        "template": spec.get("template", parsed.template),
        "parameters": params,
        "messages": [dict(m) for m in (spec.get("messages") or parsed.messages)],
        "license": spec.get("license", parsed.license),
        "adapter": adapter,
    }
    return ResolvedModel(
        name=name,
        served_name=entry["name"],
        source=source,
        source_text=_source_text(source),
        engine_model=engine_model,
        revision=revision,
        hf_token_secret=token,
        kind=str(spec.get("kind") or "generation"),
        engine=dict(spec.get("engine") or {}),
        entry=entry,
        volumes=tuple(volumes),
        cache=dict(cache) if cache else None,
        hub_repo=hub[0],
        hub_revision=hub[1],
    )

"""Resolve a Model's spec into what the runtime needs: where the weights are,
its runtime `models[]` entry, engine hints and the volumes to mount.

Explicit spec fields win over the raw Modelfile; the Modelfile's FROM is used
only when `spec.source` is absent. Pure: spec in, ResolvedModel or error out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pasture_operator import catalog, modelfile
from pasture_operator.builders.names import dns_label
from pasture_operator.constants import ADAPTERS_DIR, CACHE_SUBDIR, MODELS_DIR
from pasture_operator.redact import redact_url
from pasture_operator.spec.model import ModelSpec, cache_claim_name
from pasture_operator.spec.resolved import ResolvedModel, Volume

__all__ = ["ResolveError", "ResolvedModel", "Volume", "resolve", "resolve_spec"]


class ResolveError(ValueError):
    """The Model cannot be served as written; `reason` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


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
    if len(adapters) > 1:
        # Ollama's llama.cpp stacks adapters on one model; vLLM applies one LoRA
        # per request, so serving only one of them would answer as another model.
        raise ResolveError(
            "UnsupportedAdapters",
            f"{len(adapters)} ADAPTER lines: vLLM applies one LoRA adapter per request, "
            "so adapters cannot be stacked; merge them into one adapter, or make one "
            "Model per adapter and serve them together as variants of one ModelDeployment",
        )
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


@dataclass(frozen=True)
class _Weights:
    """Where the engine finds the base weights (before a cache replaces the source)."""

    engine_model: str
    revision: str | None = None
    token: dict[str, str] | None = None
    volumes: tuple[Volume, ...] = ()


def _library_token(spec: ModelSpec, entry: catalog.CatalogEntry) -> dict[str, str] | None:
    """The token Secret a library source's download uses: the Model's own
    (spec.source.libraryTokenSecret), else the catalog's default for gated entries."""
    own = spec.source.get("libraryTokenSecret")
    if own:
        return {"name": str(own["name"]), "key": str(own.get("key") or "token")}
    if entry.gated and entry.token_secret:
        return dict(entry.token_secret)
    if entry.gated:
        raise ResolveError(
            "TokenSecretRequired",
            f"{entry.name!r} is gated on Hugging Face ({entry.repo}): accept its license "
            "there, put a token in a Secret in this namespace and name it with "
            "spec.source.libraryTokenSecret (or set the chart's catalog.hfTokenSecret)",
        )
    return None


def _library(spec: ModelSpec, library: str) -> tuple[dict[str, Any], catalog.CatalogEntry]:
    """The catalog entry's source (huggingFace or url) that a library name stands
    for, with the token Secret its download uses, and the entry itself."""
    found = catalog.resolve(library)
    if found is None:
        raise ResolveError(
            "UnknownLibraryModel",
            f"{library!r} is not in the library catalog; name a huggingFace "
            "repo instead (see docs/operator.md for the catalog)",
        )
    source: dict[str, Any] = dict(found.source)
    if "huggingFace" in source:
        token = _library_token(spec, found)
        if token:
            source["huggingFace"] = {**source["huggingFace"], "tokenSecret": token}
    return {**source, "library": library}, found


def _hf_weights(hf: Mapping[str, Any]) -> _Weights:
    token = None
    if hf.get("tokenSecret"):
        token = {
            "name": str(hf["tokenSecret"]["name"]),
            "key": str(hf["tokenSecret"].get("key") or "token"),
        }
    return _Weights(str(hf["repo"]), str(hf.get("revision") or "main"), token)


def _weights(source: Mapping[str, Any], cached: bool) -> _Weights:
    if "huggingFace" in source:
        return _hf_weights(source["huggingFace"])
    if "pvc" in source:
        pvc = source["pvc"]
        path = f"{MODELS_DIR}/{pvc.get('path') or ''}".rstrip("/")
        return _Weights(path, volumes=(Volume("model", str(pvc["claimName"]), MODELS_DIR),))
    if "url" in source:
        if not cached:
            raise ResolveError("InvalidSpec", "a url source needs spec.cache")
        return _Weights("")
    raise ResolveError("InvalidSpec", "source must set one of huggingFace, pvc, url, library")


def _engine_hints(spec: ModelSpec, entry: catalog.CatalogEntry | None) -> dict[str, Any]:
    """The Model's engine hints over its catalog entry's defaults (parsers, context),
    plus the engine arguments the entry needs (builders/configmap.py reads them)."""
    if entry is None:
        return dict(spec.engine or {})
    return {**entry.engine_hints, "engineArgs": entry.engine_args, **(spec.engine or {})}


def _modelfile(spec: ModelSpec) -> modelfile.Modelfile:
    if not spec.modelfile:
        return modelfile.Modelfile()
    try:
        return modelfile.parse(spec.modelfile)
    except modelfile.ModelfileError as e:
        raise ResolveError("InvalidModelfile", f"modelfile {e}") from e


def _entry(spec: ModelSpec, parsed: modelfile.Modelfile, adapter: Any) -> dict[str, Any]:
    """The runtime config's models[] entry: the spec's fields over the Modelfile's."""
    params: dict[str, Any] = dict(parsed.parameters)
    params.update(spec.parameters or {})

    def pick(value: Any, fallback: Any) -> Any:
        return value if value is not None else fallback

    return {
        "name": spec.served_name,
        "aliases": list(spec.aliases),
        "system": pick(spec.system, parsed.system),
        "template": pick(spec.template, parsed.template),
        "parameters": params,
        "messages": [dict(m) for m in (spec.messages or parsed.messages)],
        "license": pick(spec.license, parsed.license),
        "adapter": adapter,
    }


def resolve(model: Mapping[str, Any]) -> ResolvedModel:
    """Resolve one Model object; raises ResolveError with a condition reason."""
    return resolve_spec(ModelSpec.from_object(model))


def resolve_spec(spec: ModelSpec) -> ResolvedModel:
    """Resolve one parsed Model spec; raises ResolveError with a condition reason."""
    parsed = _modelfile(spec)
    source: dict[str, Any] = dict(spec.source)
    if not source:
        if not parsed.from_:
            raise ResolveError("InvalidSpec", "spec.source is required without a modelfile FROM")
        source = modelfile.source_from(parsed.from_)
    shown = _source_text(source)  # a library Model keeps showing its library name
    entry = None
    if "library" in source:
        source, entry = _library(spec, str(source["library"]))
    weights = _weights(source, spec.cache is not None)
    hub = "huggingFace" in source
    engine_model, revision, volumes = weights.engine_model, weights.revision, [*weights.volumes]
    if spec.cache is not None:
        # The cache replaces the remote source: pods read the downloaded copy.
        volumes = [Volume("model", cache_claim_name(spec.name), MODELS_DIR)]
        engine_model, revision = f"{MODELS_DIR}/{CACHE_SUBDIR}", None
    adapter, adapter_vols = _adapter(spec.name, list(spec.adapters or parsed.adapters))
    return ResolvedModel(
        name=spec.name,
        served_name=spec.served_name,
        source=source,
        source_text=shown,
        engine_model=engine_model,
        revision=revision,
        hf_token_secret=weights.token,
        kind=spec.kind or (entry.kind if entry else "generation"),
        engine=_engine_hints(spec, entry),
        entry=_entry(spec, parsed, adapter),
        volumes=(*volumes, *adapter_vols),
        cache=spec.cache,
        hub_repo=weights.engine_model if hub else "",
        hub_revision=weights.revision if hub else None,
        pinned_digest=spec.digest,
        verify_weights=spec.verify_weights,
    )

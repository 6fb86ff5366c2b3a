"""Pure plans for the management endpoints: an Ollama name -> the Model and
ModelDeployment the gateway creates for it (pull, create from a source), a
variant Model (create from an existing model), and the request bodies parsed
once. Every object carries `pasture.dev/managed-by: gateway`, so delete knows
what the gateway made and what a person made."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..routing.names import display_name, normalize

API = "pasture.dev/v1alpha1"
MANAGED_BY = "pasture.dev/managed-by"
GATEWAY = "gateway"
CREATED_BY = "pasture.dev/created-by"  # the caller's key id (never the key)
OLLAMA_NAME = "pasture.dev/ollama-name"

# What a client uploads for local weights: the gateway cannot place files on
# the cluster's volumes, so it says how to serve them instead.
LOCAL_WEIGHTS = (
    "uploading local model files is not supported by a Pasture cluster: serve such "
    "weights from a PersistentVolumeClaim (Model spec.source.pvc) or a URL "
    "(spec.source.url with spec.cache), then `ollama create NAME` FROM that model "
    "(docs/cli.md)"
)


@dataclass(frozen=True)
class ManageDefaults:
    """Chart values for what `ollama pull` creates (gateway.management.*)."""

    namespace: str = "default"
    cache_size: str = "20Gi"
    storage_class: str = ""
    gpu_profile: str = ""
    idle_timeout: str = "5m"
    max_replicas: int = 1


def object_name(name: str) -> str:
    """A DNS-1123 object name for an Ollama name: `tiny` -> `tiny`,
    `qwen2.5:0.5b` -> `qwen2-5-0-5b-<6 hex>` (the hash keeps names that differ
    only in punctuation apart)."""
    key = normalize(name)
    base = key.removesuffix(":latest")
    # At most 52 characters (the Model CRD's limit: child objects add suffixes).
    clean = re.sub(r"[^a-z0-9]+", "-", base).strip("-")[:45].strip("-") or "model"
    if clean == base:
        return clean
    return f"{clean}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def source_for(name: str) -> dict[str, Any]:
    """Where a pulled name's weights come from: `hf.co/org/repo[:tag]` (the tag,
    unless `latest`, is the revision), else a library (catalog) name the operator
    resolves."""
    text = name.strip()
    lower = text.lower()
    for prefix in ("hf.co/", "huggingface.co/"):
        if lower.startswith(prefix):
            repo, _, tag = text[len(prefix) :].partition(":")
            hf: dict[str, Any] = {"repo": repo}
            if tag and tag.lower() != "latest":
                hf["revision"] = tag
            return {"huggingFace": hf}
    return {"library": normalize(text)}


def _meta(name: str, ollama_name: str, key_id: str, ns: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": ns,
        "labels": {MANAGED_BY: GATEWAY},
        "annotations": {CREATED_BY: key_id, OLLAMA_NAME: display_name(ollama_name)},
    }


def model_object(
    ollama_name: str,
    source: Mapping[str, Any],
    d: ManageDefaults,
    key_id: str,
    extra: Mapping[str, Any] | None = None,
    cache: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A cached Model serving `ollama_name` (extra: system, template, ...)."""
    if cache is None:
        cache = {"size": d.cache_size}
        if d.storage_class:
            cache = {**cache, "storageClassName": d.storage_class}
    spec: dict[str, Any] = {
        "servedName": normalize(ollama_name),  # lower case, as the CRD wants
        "source": dict(source),
        "cache": dict(cache),
        **(extra or {}),
    }
    return {
        "apiVersion": API,
        "kind": "Model",
        "metadata": _meta(object_name(ollama_name), ollama_name, key_id, d.namespace),
        "spec": spec,
    }


def deployment_object(
    ollama_name: str, model_uid: str, d: ManageDefaults, key_id: str
) -> dict[str, Any]:
    """Scaled to zero until a request wakes it, back to zero when idle; owned by
    its Model so deleting the Model (kubectl too) removes it."""
    name = object_name(ollama_name)
    meta = _meta(name, ollama_name, key_id, d.namespace)
    if model_uid:
        meta["ownerReferences"] = [
            {"apiVersion": API, "kind": "Model", "name": name, "uid": model_uid}
        ]
    spec: dict[str, Any] = {
        "modelRef": {"name": name},
        "replicas": 0,
        "autoscaling": {
            "enabled": True,
            "minReplicas": 0,
            "maxReplicas": max(d.max_replicas, 1),
            "idleTimeout": d.idle_timeout,
            "allowUnload": True,
        },
    }
    if d.gpu_profile:
        spec["resources"] = {"profile": d.gpu_profile}
    return {"apiVersion": API, "kind": "ModelDeployment", "metadata": meta, "spec": spec}


def variant_object(
    ollama_name: str,
    base: Mapping[str, Any],
    d: ManageDefaults,
    key_id: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """A Model on the base Model's weights (same source: the operator's variant
    rule) with its own name and settings; the base's pods serve it."""
    spec = base.get("spec") or {}
    inherited = {
        k: spec[k]
        for k in ("system", "template", "parameters", "license", "messages", "kind", "engine")
        if k in spec
    }
    body: dict[str, Any] = {
        "servedName": normalize(ollama_name),
        "source": dict(spec.get("source") or {}),
        **inherited,
        **extra,
    }
    if spec.get("cache"):
        body["cache"] = dict(spec["cache"])
    return {
        "apiVersion": API,
        "kind": "Model",
        "metadata": _meta(object_name(ollama_name), ollama_name, key_id, d.namespace),
        "spec": body,
    }


def managed(obj: Mapping[str, Any] | None) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == GATEWAY


@dataclass(frozen=True)
class CreatePlan:
    """POST /api/create, parsed once: the new name, where it comes from, the Model
    fields it sets, or why it cannot be done here."""

    model: str
    source: str  # `from` (or the Modelfile's FROM): an existing name or a source
    fields: Mapping[str, Any] = field(default_factory=dict)
    refused: str = ""  # a 400 message (local files)


def _license(value: Any) -> str | None:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value) if value else None


_FIELD_NAMES = ("system", "template", "parameters", "messages")


def _modelfile_from(text: str) -> str:
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0].upper() == "FROM":
            return parts[1].strip().strip('"')
    return ""


def _local_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or source.lower().endswith((".gguf", ".bin"))


def plan_create(doc: Mapping[str, Any]) -> CreatePlan:
    """The structured form (from, system, template, parameters, messages,
    license, adapters, files) or the older `modelfile` string."""
    name = str(doc.get("model") or doc.get("name") or "")
    fields: dict[str, Any] = {k: doc[k] for k in _FIELD_NAMES if doc.get(k)}
    if (lic := _license(doc.get("license"))) is not None:
        fields["license"] = lic
    source = str(doc.get("from") or "")
    if isinstance(doc.get("modelfile"), str) and doc["modelfile"].strip():
        fields["modelfile"] = doc["modelfile"]
        source = source or _modelfile_from(doc["modelfile"])
    refused = ""
    if doc.get("files") or doc.get("adapters") or doc.get("quantize") or _local_path(source):
        refused = LOCAL_WEIGHTS
    elif not source:
        refused = "neither `from` nor a Modelfile FROM line names the model to create from"
    return CreatePlan(name, source, fields, refused)

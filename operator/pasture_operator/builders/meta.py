"""Labels, owner references and object metadata shared by every builder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasture_operator.constants import (
    LABEL_COMPONENT,
    LABEL_DEPLOYMENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LABEL_NAME,
    MANAGED_BY,
    RUNTIME_APP,
)
from pasture_operator.spec.owner import Owner


def selector_labels(deployment_name: str) -> dict[str, str]:
    """The immutable selector of a ModelDeployment's pods."""
    return {LABEL_NAME: RUNTIME_APP, LABEL_DEPLOYMENT: deployment_name}


def selector_string(deployment_name: str) -> str:
    return ",".join(f"{k}={v}" for k, v in selector_labels(deployment_name).items())


def deployment_labels(deployment_name: str) -> dict[str, str]:
    return {
        **selector_labels(deployment_name),
        LABEL_INSTANCE: deployment_name,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_COMPONENT: "runtime",
    }


def model_labels(model_name: str, component: str) -> dict[str, str]:
    return {
        LABEL_NAME: "pasture-model",
        LABEL_INSTANCE: model_name,
        LABEL_MODEL: model_name,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_COMPONENT: component,
    }


def owner_reference(owner: Owner) -> dict[str, Any]:
    """Controller owner reference: the garbage collector deletes the child with its owner."""
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    owner: Owner,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta

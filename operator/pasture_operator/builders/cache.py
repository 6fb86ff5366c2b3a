"""A Model's cache: the PVC and the download Job that fills it once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pasture_operator.builders.meta import model_labels, object_meta
from pasture_operator.builders.names import bounded
from pasture_operator.constants import CACHE_SUBDIR, MODELS_DIR
from pasture_operator.spec.model import cache_claim_name
from pasture_operator.spec.owner import Owner
from pasture_operator.spec.resolved import ResolvedModel

# Exit code the downloader uses for errors a retry cannot fix (401/403/404, bad archive).
PERMANENT_FAILURE_EXIT_CODE = 2


def pvc(owner: Owner, resolved: ResolvedModel) -> dict[str, Any]:
    cache = resolved.cache
    assert cache is not None, "only a cached Model has a cache PVC"
    spec: dict[str, Any] = {
        "accessModes": [cache.access_mode],
        "resources": {"requests": {"storage": cache.size}},
    }
    if cache.storage_class_name:
        spec["storageClassName"] = cache.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": object_meta(
            owner, cache_claim_name(resolved.name), model_labels(resolved.name, "cache")
        ),
        "spec": spec,
    }


def source_digest(resolved: ResolvedModel) -> str:
    """Changes when what to download changes; names the Job (its template is immutable)."""
    return hashlib.sha256(json.dumps(resolved.source, sort_keys=True).encode()).hexdigest()[:8]


def job_name(resolved: ResolvedModel) -> str:
    # At most 63 characters: the name becomes the pods' job-name label.
    return bounded(f"{resolved.name}-dl-{source_digest(resolved)}")


# The URL travels in the environment, not on the command line (`ps`, container
# runtime logs): it may carry credentials (docs/operator.md, Credentials).
URL_ENV = "PASTURE_DOWNLOAD_URL"
# HTTP header lines ("Name: value") from spec.source.url.headersSecret.
HEADERS_ENV = "PASTURE_DOWNLOAD_HEADERS"


def _download_source(resolved: ResolvedModel) -> dict[str, Any]:
    src = resolved.source
    if "url" in src:
        return {
            "url": src["url"]["url"],
            "sha256": src["url"].get("sha256"),
            "headersSecret": src["url"].get("headersSecret"),
        }
    hf = src["huggingFace"]
    return {"repo": hf["repo"], "revision": hf.get("revision") or "main"}


def _args_env(
    resolved: ResolvedModel, hf_endpoint: str | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """The downloader's arguments and environment for what to download."""
    src = _download_source(resolved)
    args = ["-m", "pasture_operator.downloader", "--dest", f"{MODELS_DIR}/{CACHE_SUBDIR}"]
    source_env: list[dict[str, Any]] = []
    if "url" in src:
        args += ["--url-env", URL_ENV]
        source_env.append({"name": URL_ENV, "value": src["url"]})
        if src.get("sha256"):
            args += ["--sha256", src["sha256"]]
        if src.get("headersSecret"):
            ref = src["headersSecret"]
            key_ref = {"name": str(ref["name"]), "key": str(ref.get("key") or "headers")}
            source_env.append({"name": HEADERS_ENV, "valueFrom": {"secretKeyRef": key_ref}})
    else:
        args += ["--hf-repo", src["repo"], "--revision", src["revision"]]
        if hf_endpoint:  # a Hugging Face mirror (air-gapped clusters)
            source_env.append({"name": "HF_ENDPOINT", "value": hf_endpoint})
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        # The downloader writes its progress into this Model's status (progress.py).
        {"name": "PASTURE_MODEL_NAME", "value": resolved.name},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    env.extend(source_env)
    if resolved.hf_token_secret:
        env.append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": dict(resolved.hf_token_secret)}}
        )
    return args, env


def _pod_spec(
    resolved: ResolvedModel, image: str, args: list[str], env: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        # Its own account, allowed to patch this Model's status only
        # (builders/download_access.py); the only pod that mounts its token.
        "serviceAccountName": job_name(resolved),
        "automountServiceAccountToken": True,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "download",
                "image": image,
                "command": ["python"],
                "args": args,
                "env": env,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [
                    {"name": "cache", "mountPath": MODELS_DIR},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": [
            {
                "name": "cache",
                "persistentVolumeClaim": {"claimName": cache_claim_name(resolved.name)},
            },
            {"name": "tmp", "emptyDir": {}},
        ],
    }


def job(
    owner: Owner,
    resolved: ResolvedModel,
    image: str,
    hf_endpoint: str | None = None,
) -> dict[str, Any]:
    args, env = _args_env(resolved, hf_endpoint)
    labels = model_labels(resolved.name, "download")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(owner, job_name(resolved), labels),
        "spec": {
            "backoffLimit": 3,
            "podFailurePolicy": {
                "rules": [
                    # 401/403/404 will not get better by retrying: fail the Job now.
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": "download",
                            "operator": "In",
                            "values": [PERMANENT_FAILURE_EXIT_CODE],
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(resolved, image, args, env),
            },
        },
    }

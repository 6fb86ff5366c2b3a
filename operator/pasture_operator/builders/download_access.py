"""The download Job's own identity: a ServiceAccount allowed to patch its Model's
status and nothing else.

The downloader writes its progress straight into the Model's status
(progress.py). Its ServiceAccount, Role and RoleBinding are named after the Job
(one set per source: a Job of an older source loses its access when its set is
deleted with it) and owned by the Model (the garbage collector removes them with
it). The Role names the one Model (`resourceNames`) and only `patch` on
`models/status`: the downloader never reads the Model (its spec may hold a URL
with credentials; the Job has what it needs in its environment). The operator
may create this Role because it holds the same permission itself (RBAC's
escalation check), without `escalate` or `bind`.
"""

from __future__ import annotations

from typing import Any

from pasture_operator.builders.meta import model_labels, object_meta
from pasture_operator.constants import GROUP, MODEL_PLURAL
from pasture_operator.spec.owner import Owner

RBAC_API = "rbac.authorization.k8s.io/v1"
COMPONENT = "download"


def service_account(owner: Owner, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(owner, name, model_labels(owner.name, COMPONENT)),
        # The Job's pod mounts its token explicitly (builders/cache.py); nothing else should.
        "automountServiceAccountToken": False,
    }


def role(owner: Owner, name: str) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": object_meta(owner, name, model_labels(owner.name, COMPONENT)),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [f"{MODEL_PLURAL}/status"],
                "resourceNames": [owner.name],
                "verbs": ["patch"],
            }
        ],
    }


def role_binding(owner: Owner, name: str) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": object_meta(owner, name, model_labels(owner.name, COMPONENT)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
    }


def download_access(owner: Owner, name: str) -> list[dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding: in the order they must exist before the Job."""
    return [service_account(owner, name), role(owner, name), role_binding(owner, name)]

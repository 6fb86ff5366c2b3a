"""Every kind the operator reads, writes or watches, in one table.

Adding a child kind means adding one row here (and its builder); the rest is
derived: main.py registers a kopf watch per watched row, kube/resync.py
re-lists the same rows, kube/client.py's PLURALS, the controller's
DEPLOYMENT_CHILD_KINDS and the plan's OPTIONAL_KINDS are views of it, and
tests/chart/test_rbac_proof.py checks that the chart's RBAC grants each row's
verbs. Pure: names only, no API client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from pasture_operator.constants import (
    API_VERSION,
    DEPLOYMENT_KIND,
    DEPLOYMENT_PLURAL,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    MODEL_KIND,
    MODEL_PLURAL,
)

# Which operator configuration needs a kind: kopf's peering objects differ
# between watching all namespaces and watching a list of them.
NeededWhen = Literal["always", "all-namespaces", "listed-namespaces"]


@dataclass(frozen=True)
class Watch:
    """A kopf watch: every object of the kind, or only those carrying `labels`."""

    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def label_selector(self) -> str | None:
        """The same filter as a list call's labelSelector (None: every object)."""
        return ",".join(f"{k}={v}" for k, v in self.labels.items()) or None


EVERY: Final = Watch()
# Children carry app.kubernetes.io/managed-by=pasture-operator (builders/meta.py).
OURS: Final = Watch(MappingProxyType({LABEL_MANAGED_BY: MANAGED_BY}))

READ: Final = frozenset({"get", "list", "watch"})
# Server-side apply creates or patches; a child no longer wanted is deleted.
WRITE: Final = frozenset({"create", "patch", "delete"})


@dataclass(frozen=True)
class KindRow:
    kind: str
    api_version: str
    plural: str
    # The API verbs the operator (and kopf on its behalf) uses on the kind.
    verbs: frozenset[str]
    namespaced: bool = True
    # DEPLOYMENT_KIND or MODEL_KIND for a child the operator makes with that owner.
    owner: str | None = None
    watch: Watch | None = None  # None: never watched (read or written on demand)
    # Made only when this holds (a CRD installed, a spec field set); a child that
    # is no longer wanted is deleted. None: always made with its owner.
    optional: str | None = None
    subresources: Mapping[str, frozenset[str]] = field(default_factory=dict)
    needed_when: NeededWhen = "always"

    @property
    def group(self) -> str:
        """The API group ("" for the core group), as RBAC rules name it."""
        return self.api_version.rpartition("/")[0]


KINDS: Final[tuple[KindRow, ...]] = (
    # The custom resources: watched, their status written once per pass. Children
    # carry blockOwnerDeletion, which needs update on the owner's finalizers where
    # the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift).
    KindRow(
        DEPLOYMENT_KIND,
        API_VERSION,
        DEPLOYMENT_PLURAL,
        READ,
        watch=EVERY,
        subresources={
            "status": frozenset({"patch"}),
            "finalizers": frozenset({"update"}),
            "scale": frozenset({"patch"}),  # the autoscaler sets replicas through it
        },
    ),
    KindRow(
        MODEL_KIND,
        API_VERSION,
        MODEL_PLURAL,
        READ,
        watch=EVERY,
        subresources={"status": frozenset({"patch"}), "finalizers": frozenset({"update"})},
    ),
    # A ModelDeployment's children, watched for drift.
    KindRow(
        "Deployment", "apps/v1", "deployments", READ | WRITE, owner=DEPLOYMENT_KIND, watch=OURS
    ),
    KindRow("ConfigMap", "v1", "configmaps", READ | WRITE, owner=DEPLOYMENT_KIND, watch=OURS),
    KindRow("Service", "v1", "services", READ | WRITE, owner=DEPLOYMENT_KIND, watch=OURS),
    # Made by our Deployments and Jobs; read for status root causes.
    KindRow("Pod", "v1", "pods", READ, watch=OURS),
    KindRow(
        "PodDisruptionBudget",
        "policy/v1",
        "poddisruptionbudgets",
        READ | WRITE,
        owner=DEPLOYMENT_KIND,
        watch=OURS,
        optional="spec.replicas > 1",
    ),
    KindRow(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "networkpolicies",
        READ | WRITE,
        owner=DEPLOYMENT_KIND,
        watch=OURS,
        optional="spec.access is set",
    ),
    KindRow(
        "ServiceMonitor",
        "monitoring.coreos.com/v1",
        "servicemonitors",
        READ | WRITE,
        owner=DEPLOYMENT_KIND,
        watch=OURS,
        optional="the Prometheus Operator's CRD servicemonitors.monitoring.coreos.com is installed",
    ),
    # One per ModelDeployment, for clusters running an inference gateway
    # (builders/inference_pool.py).
    KindRow(
        "InferencePool",
        "inference.networking.k8s.io/v1",
        "inferencepools",
        READ | WRITE,
        owner=DEPLOYMENT_KIND,
        watch=OURS,
        optional=(
            "the Gateway API Inference Extension's CRD"
            " inferencepools.inference.networking.k8s.io is installed"
        ),
    ),
    # A multi-node replica's group of pods (builders/leaderworkerset.py), in place
    # of the Deployment; without the CRD the ModelDeployment reports MultiNodeUnavailable.
    KindRow(
        "LeaderWorkerSet",
        "leaderworkerset.x-k8s.io/v1",
        "leaderworkersets",
        READ | WRITE,
        owner=DEPLOYMENT_KIND,
        watch=OURS,
        optional=(
            "spec.resources.nodesPerReplica > 1 and LeaderWorkerSet's CRD"
            " leaderworkersets.leaderworkerset.x-k8s.io is installed"
        ),
    ),
    # A Model's cache children: the download Job and the cache PVC. Every PVC is
    # watched, not only ours: a Model may read weights from a user's PVC.
    KindRow("Job", "batch/v1", "jobs", READ | WRITE, owner=MODEL_KIND, watch=OURS),
    KindRow(
        "PersistentVolumeClaim",
        "v1",
        "persistentvolumeclaims",
        READ | WRITE,
        owner=MODEL_KIND,
        watch=EVERY,
    ),
    # The download Job's own identity while it runs: patch on its one Model's
    # status, nothing else (builders/download_access.py). Creating the Role needs
    # the operator to hold that permission itself (the Model row's status patch).
    KindRow("ServiceAccount", "v1", "serviceaccounts", READ | WRITE, owner=MODEL_KIND, watch=OURS),
    KindRow(
        "Role", "rbac.authorization.k8s.io/v1", "roles", READ | WRITE, owner=MODEL_KIND, watch=OURS
    ),
    KindRow(
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        READ | WRITE,
        owner=MODEL_KIND,
        watch=OURS,
    ),
    # Posted on Models/ModelDeployments (ours and kopf's); listed for one pod's
    # volume attach/mount failures.
    KindRow("Event", "v1", "events", frozenset({"create", "patch", "list"})),
    # Listed to explain an unbound cache PVC.
    KindRow(
        "StorageClass", "storage.k8s.io/v1", "storageclasses", frozenset({"list"}), namespaced=False
    ),
    # kopf watches CRDs to notice kinds installed later (e.g. ServiceMonitor).
    KindRow(
        "CustomResourceDefinition",
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        frozenset({"list", "watch"}),
        namespaced=False,
    ),
    # kopf's peering (leader election between replicas); the operator creates its object.
    KindRow(
        "KopfPeering",
        "kopf.dev/v1",
        "kopfpeerings",
        frozenset({"get", "list", "watch", "create", "patch"}),
        needed_when="listed-namespaces",
    ),
    KindRow(
        "ClusterKopfPeering",
        "kopf.dev/v1",
        "clusterkopfpeerings",
        frozenset({"get", "list", "watch", "create", "patch"}),
        namespaced=False,
        needed_when="all-namespaces",
    ),
)

BY_KIND: Final[Mapping[str, KindRow]] = MappingProxyType({r.kind: r for r in KINDS})


def watches() -> tuple[tuple[KindRow, Watch], ...]:
    """The rows the operator watches and how, in the table's order."""
    return tuple((r, r.watch) for r in KINDS if r.watch is not None)


def children_of(owner: str) -> tuple[str, ...]:
    """The kinds the operator makes for an owner of kind `owner`."""
    return tuple(r.kind for r in KINDS if r.owner == owner)


def optional_children() -> dict[str, str]:
    """kind -> apiVersion of the children made only in some configurations."""
    return {r.kind: r.api_version for r in KINDS if r.owner and r.optional}


def plurals() -> dict[str, tuple[str, bool]]:
    """kind -> (plural, namespaced), for building request paths."""
    return {r.kind: (r.plural, r.namespaced) for r in KINDS}

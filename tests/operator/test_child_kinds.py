"""The table of kinds (spec/child_kinds.py) against what it mirrors: the CRDs in
crds/, the constants, the views derived from it and the children the plans make."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pasture_operator.constants import (
    DEPLOYMENT_KIND,
    DEPLOYMENT_PLURAL,
    GROUP,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    MODEL_KIND,
    MODEL_PLURAL,
    VERSION,
)
from pasture_operator.handlers.controller import DEPLOYMENT_CHILD_KINDS
from pasture_operator.kube.client import PLURALS
from pasture_operator.kube.resync import WATCHED
from pasture_operator.reconcile.deployment_plan import OPTIONAL_KINDS
from pasture_operator.spec.child_kinds import BY_KIND, KINDS, OURS, KindRow
from tests.fixtures.cluster import ROOT
from tests.operator.helpers import md
from tests.operator.test_deployment_plan import plan
from tests.operator.test_model_plan import CACHED, run
from tests.operator.test_multinode_plan import MULTI
from tests.operator.test_multinode_plan import plan as multinode_plan

# Every child the plans can make: two replicas (PDB), access rules (NetworkPolicy)
# and the ServiceMonitor CRD installed.
FULL: dict[str, Any] = {"replicas": 2, "access": {"namespaces": ["apps"]}}


def _crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) -> CRD, for every CRD in crds/."""
    docs = [
        d
        for p in sorted((ROOT / "crds").glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]
    return {(d["spec"]["group"], d["spec"]["names"]["kind"]): d for d in docs}


def test_kinds_are_unique() -> None:
    assert len(BY_KIND) == len(KINDS)
    assert len({(r.group, r.plural) for r in KINDS}) == len(KINDS)


def test_rows_of_our_crds_match_them() -> None:
    crds = _crds()
    rows = [r for r in KINDS if (r.group, r.kind) in crds]
    assert {r.kind for r in rows} == {
        MODEL_KIND,
        DEPLOYMENT_KIND,
        "KopfPeering",
        "ClusterKopfPeering",
    }
    assert set(crds) == {(r.group, r.kind) for r in rows}  # no CRD of ours missing
    for row in rows:
        crd = crds[(row.group, row.kind)]
        assert crd["spec"]["names"]["plural"] == row.plural, row.kind
        assert (crd["spec"]["scope"] == "Namespaced") == row.namespaced, row.kind
        (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
        assert f"{row.group}/{version['name']}" == row.api_version, row.kind
        served = set(version.get("subresources") or {})
        # finalizers is no subresource: RBAC's name for setting blockOwnerDeletion.
        assert set(row.subresources) - {"finalizers"} <= served, row.kind


def test_constants_name_the_same_resources() -> None:
    assert BY_KIND[MODEL_KIND].api_version == f"{GROUP}/{VERSION}"
    assert BY_KIND[MODEL_KIND].plural == MODEL_PLURAL
    assert BY_KIND[DEPLOYMENT_KIND].api_version == f"{GROUP}/{VERSION}"
    assert BY_KIND[DEPLOYMENT_KIND].plural == DEPLOYMENT_PLURAL
    assert dict(OURS.labels) == {LABEL_MANAGED_BY: MANAGED_BY}
    assert OURS.label_selector == f"{LABEL_MANAGED_BY}={MANAGED_BY}"


def test_derived_views() -> None:
    """The views the rest of the operator imports keep the values they had as literals."""
    assert set(DEPLOYMENT_CHILD_KINDS) == {
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "InferencePool",
        "LeaderWorkerSet",
    }
    assert OPTIONAL_KINDS == {
        "PodDisruptionBudget": "policy/v1",
        "ServiceMonitor": "monitoring.coreos.com/v1",
        "NetworkPolicy": "networking.k8s.io/v1",
        "InferencePool": "inference.networking.k8s.io/v1",
        "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
    }
    assert PLURALS["PersistentVolumeClaim"] == ("persistentvolumeclaims", True)
    assert PLURALS["StorageClass"] == ("storageclasses", False)
    assert PLURALS["ClusterKopfPeering"] == ("clusterkopfpeerings", False)
    assert {w.kind: w.label_selector for w in WATCHED} == {
        DEPLOYMENT_KIND: None,
        MODEL_KIND: None,
        "Deployment": OURS.label_selector,
        "ConfigMap": OURS.label_selector,
        "Service": OURS.label_selector,
        "Pod": OURS.label_selector,
        "PodDisruptionBudget": OURS.label_selector,
        "NetworkPolicy": OURS.label_selector,
        "ServiceMonitor": OURS.label_selector,
        "InferencePool": OURS.label_selector,
        "LeaderWorkerSet": OURS.label_selector,
        "Job": OURS.label_selector,
        "ServiceAccount": OURS.label_selector,  # a download Job's own identity
        "Role": OURS.label_selector,
        "RoleBinding": OURS.label_selector,
        "PersistentVolumeClaim": None,  # a Model may read weights from a user's PVC
    }


@pytest.mark.parametrize("row", KINDS, ids=lambda r: r.kind)
def test_verbs_cover_what_each_row_says_is_done(row: KindRow) -> None:
    if row.watch is not None:
        assert {"list", "watch"} <= row.verbs
    if row.owner is not None:  # looked up before an apply (conflicts), applied, watched
        assert {"get", "create", "patch"} <= row.verbs
        assert row.watch is not None
        assert row.namespaced  # owner references do not cross namespaces
    if row.optional is not None:  # deleted when no longer wanted
        assert row.owner is not None
        assert "delete" in row.verbs


def _children(objs: list[dict[str, Any]]) -> dict[str, str]:
    return {o["kind"]: o["apiVersion"] for o in objs}


def test_a_full_deployment_plan_makes_exactly_the_table_children() -> None:
    """A single-node and a multi-node plan (a LeaderWorkerSet in place of the
    Deployment) together make every row."""
    objs = plan(md(**FULL), monitoring=True).desired
    multi = multinode_plan(md(**FULL, **MULTI), monitoring=True).desired
    table = {r.kind: r.api_version for r in KINDS if r.owner == DEPLOYMENT_KIND}
    assert _children(objs) | _children(multi) == table
    assert set(_children(objs)) ^ set(_children(multi)) == {"Deployment", "LeaderWorkerSet"}
    for o in objs + multi:  # children carry the label their watch selects by
        assert o["metadata"]["labels"].items() >= OURS.labels.items(), o["kind"]
        assert o["metadata"]["ownerReferences"][0]["kind"] == DEPLOYMENT_KIND
    _pods_are_watched([o for o in objs if o["kind"] == "Deployment"])
    for group in (o for o in multi if o["kind"] == "LeaderWorkerSet"):
        tpl = group["spec"]["leaderWorkerTemplate"]
        _pods_are_watched(
            [{"spec": {"template": tpl[t]}} for t in ("leaderTemplate", "workerTemplate")]
        )


def _pods_are_watched(owners: list[dict[str, Any]]) -> None:
    """The pods a Deployment or Job makes carry the labels the Pod watch selects by."""
    watch = BY_KIND["Pod"].watch
    assert owners
    assert watch is not None
    for o in owners:
        labels = o["spec"]["template"]["metadata"]["labels"]
        assert labels.items() >= watch.labels.items(), o.get("kind")


def test_a_minimal_deployment_plan_makes_only_the_required_children() -> None:
    objs = plan(md(replicas=1), monitoring=False).desired
    assert set(_children(objs)) == {
        r.kind for r in KINDS if r.owner == DEPLOYMENT_KIND and r.optional is None
    }


def test_a_cached_model_plan_makes_exactly_the_table_children() -> None:
    objs = run(CACHED).apply
    assert _children(objs) == {r.kind: r.api_version for r in KINDS if r.owner == MODEL_KIND}
    for o in objs:
        watch = BY_KIND[o["kind"]].watch
        assert watch is not None
        assert o["metadata"]["labels"].items() >= watch.labels.items()
        assert o["metadata"]["ownerReferences"][0]["kind"] == MODEL_KIND
    _pods_are_watched([o for o in objs if o["kind"] == "Job"])

"""Pasture never adopts an object it did not create (table tests of the pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.ownership import Conflict, conflict
from tests.operator.helpers import md, model

OURS = {"uid": "uid-md-tiny", "controller": True, "kind": "ModelDeployment", "name": "tiny"}


def _body(*refs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "tiny", "ownerReferences": list(refs)}}


@pytest.mark.parametrize(
    ("existing", "holder"),
    [
        (None, None),
        (_body(OURS), None),
        (_body(), "not managed by Pasture (it has no controller)"),
        (_body({**OURS, "controller": False}), "not managed by Pasture (it has no controller)"),
        (_body({**OURS, "uid": "old-uid"}), "controlled by ModelDeployment tiny"),
        (
            _body({"uid": "x", "controller": True, "kind": "HelmRelease", "name": "web"}),
            "controlled by HelmRelease web",
        ),
    ],
)
def test_conflict(existing: dict[str, Any] | None, holder: str | None) -> None:
    found = conflict(existing, "Service", "uid-md-tiny")
    assert (found.holder if found else None) == holder
    if found:
        assert found.message.startswith("Service tiny already exists and is ")


def test_deployment_plan_leaves_a_foreign_service_alone() -> None:
    clash = Conflict("Service", "tiny", "not managed by Pasture (it has no controller)")
    obs = DeploymentObserved(models={"tiny": model()}, children={}, conflicts=[clash])
    p = plan_deployment(md(), obs, ChildDefaults("img"), "T")
    assert [o["kind"] for o in p.apply] == ["ConfigMap", "Deployment"]
    by_type = {c["type"]: c for c in p.status["conditions"]}
    assert by_type["Ready"]["status"] == "False"
    assert by_type["Degraded"]["reason"] == by_type["Ready"]["reason"] == "ChildConflict"
    assert "Service tiny" in by_type["Degraded"]["message"]
    warnings = [e for e in p.events if e.type == "Warning"]
    assert [e.reason for e in warnings] == ["ChildConflict"]
    assert "Service tiny" in warnings[0].message


def test_model_plan_applies_nothing_over_a_foreign_pvc() -> None:
    spec = {"source": {"url": {"url": "https://example.com/a.tar.gz"}}, "cache": {"size": "1Gi"}}
    clash = Conflict("PersistentVolumeClaim", "tiny-cache", "not managed by Pasture (x)")
    p = plan_model(
        model("tiny", spec, phase=None),
        ModelObserved(conflicts=[clash]),
        downloader_image="i",
        now="T",
    )
    assert p.apply == []
    assert p.delete == []
    assert (p.phase, p.reason) == ("Failed", "ChildConflict")
    assert "PersistentVolumeClaim tiny-cache" in p.message


def test_a_foreign_deployment_is_neither_applied_nor_announced() -> None:
    clash = Conflict("Deployment", "tiny", "controlled by HelmRelease web")
    obs = DeploymentObserved(models={"tiny": model()}, children={}, conflicts=[clash])
    p = plan_deployment(md(), obs, ChildDefaults("img"), "T")
    assert "Deployment" not in [o["kind"] for o in p.apply]
    assert "Created" not in [e.reason for e in p.events]

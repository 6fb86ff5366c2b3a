"""Item 12: a Model leaving Ready never takes serving pods down.

Pure plan tests here; tests/operator/test_kube_model_leaving_ready.py runs it
against the real apiserver.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator.helpers import md, model
from tests.operator.test_deployment_plan import _observed_dep, cond, plan

WEIGHTS_V1 = {"source": {"huggingFace": {"repo": "org/tiny", "revision": "v1"}}}
WEIGHTS_V2 = {"source": {"huggingFace": {"repo": "org/tiny", "revision": "v2"}}}


def serving(replicas: int = 2) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """Children of a ModelDeployment Ready with `replicas` pods on revision v1."""
    first = plan(md(replicas=replicas), models={"tiny": model(spec=WEIGHTS_V1)})
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.apply}
    dep = _observed_dep(children[("Deployment", "tiny")], replicas, replicas)
    children[("Deployment", "tiny")] = dep
    return children, dep


@pytest.mark.parametrize(
    ("phase", "reason"),
    [("Pending", "ModelNotReady"), ("Downloading", "ModelNotReady"), ("Failed", "ModelFailed")],
)
def test_serving_pods_stay_while_the_model_is_not_ready(phase: str, reason: str) -> None:
    children, _dep = serving(2)
    p = plan(
        md(replicas=2), models={"tiny": model(spec=WEIGHTS_V2, phase=phase)}, children=children
    )
    # Nothing that would restart or remove a serving pod is applied.
    assert all(o["kind"] not in ("Deployment", "ConfigMap") for o in p.apply), [
        o["kind"] for o in p.apply
    ]
    assert not p.delete
    assert cond(p, "Ready")["status"] == "True"
    assert "previous" in cond(p, "Ready")["message"]
    assert cond(p, "ModelReady")["status"] == "False"
    assert cond(p, "ModelReady")["reason"] == reason
    assert reason in (cond(p, "Progressing")["reason"], cond(p, "Degraded")["reason"])


def test_replica_changes_still_apply_on_the_served_template() -> None:
    children, dep = serving(2)
    p = plan(
        md(replicas=3),
        models={"tiny": model(spec=WEIGHTS_V2, phase="Downloading")},
        children=children,
    )
    deps = [o for o in p.apply if o["kind"] == "Deployment"]
    assert len(deps) == 1
    assert deps[0]["spec"]["replicas"] == 3
    assert deps[0]["spec"]["template"] == dep["spec"]["template"]  # the served revision's pods
    assert not [o for o in p.apply if o["kind"] == "ConfigMap"]


def test_the_new_revision_rolls_once_ready() -> None:
    children, dep = serving(2)
    p = plan(md(replicas=2), models={"tiny": model(spec=WEIGHTS_V2)}, children=children)
    kinds = [o["kind"] for o in p.apply]
    assert "ConfigMap" in kinds
    assert "Deployment" in kinds
    new = next(o for o in p.apply if o["kind"] == "Deployment")
    assert new["spec"]["template"] != dep["spec"]["template"]


def test_never_served_waits_with_zero_replicas() -> None:
    p = plan(md(replicas=2), models={"tiny": model(phase="Pending")})
    assert next(o for o in p.apply if o["kind"] == "Deployment")["spec"]["replicas"] == 0
    assert cond(p, "Ready")["status"] == "False"


def test_a_ready_phase_of_an_older_spec_is_not_ready() -> None:
    """Right after a source edit the Model's status still says Ready (for the old spec)."""
    children, _dep = serving(2)
    edited = model(spec=WEIGHTS_V2)
    edited["metadata"]["generation"] = 2
    edited["status"]["observedGeneration"] = 1
    p = plan(md(replicas=2), models={"tiny": edited}, children=children)
    assert not [o for o in p.apply if o["kind"] in ("Deployment", "ConfigMap")]
    assert cond(p, "ModelReady")["status"] == "False"

"""The model cache on real clusters (issue 11, item 17): the PVC's access mode is a
spec field, volume attach/mount failures are a root cause in status, and cached
variants of one base never silently serve the base's weights."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.pod_health import worst_problem
from tests.operator.helpers import md, model


def _pvc(spec: dict[str, Any]) -> dict[str, Any]:
    p = plan_model(model("m", spec, phase=None), ModelObserved(), downloader_image="i", now="T")
    return next(o for o in p.apply if o["kind"] == "PersistentVolumeClaim")


def test_access_mode_defaults_to_rwo_and_follows_the_spec() -> None:
    src = {"huggingFace": {"repo": "org/tiny"}}
    assert _pvc({"source": src, "cache": {"size": "1Gi"}})["spec"]["accessModes"] == [
        "ReadWriteOnce"
    ]
    rwx = _pvc({"source": src, "cache": {"size": "1Gi", "accessMode": "ReadWriteMany"}})
    assert rwx["spec"]["accessModes"] == ["ReadWriteMany"]


def _creating(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "runtime", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ],
        },
    }


MULTI_ATTACH = {
    "type": "Warning",
    "reason": "FailedAttachVolume",
    "message": 'Multi-Attach error for volume "pvc-1" Volume is already used by pod(s) tiny-a',
    "lastTimestamp": "2026-01-01T00:00:02Z",
}
FAILED_MOUNT = {
    "type": "Warning",
    "reason": "FailedMount",
    "message": "Unable to attach or mount volumes: unmounted volumes=[model]: timed out",
    "lastTimestamp": "2026-01-01T00:00:01Z",
}


@pytest.mark.parametrize(
    ("events", "reason", "fragment"),
    [
        ([MULTI_ATTACH, FAILED_MOUNT], "VolumeMultiAttach", "ReadWriteMany"),
        ([FAILED_MOUNT], "VolumeMountFailed", "unmounted volumes=[model]"),
        ([{**FAILED_MOUNT, "type": "Normal", "reason": "Pulled"}], None, ""),
    ],
)
def test_volume_events_are_a_root_cause(
    events: list[dict[str, Any]], reason: str | None, fragment: str
) -> None:
    problem = worst_problem([_creating("tiny-b")], {"tiny-b": events})
    assert (problem.reason if problem else None) == reason
    if problem:
        assert fragment in problem.message


def test_volume_root_cause_reaches_the_status() -> None:
    obs = DeploymentObserved(
        models={"tiny": model()},
        children={},
        pods=[_creating("tiny-b")],
        pod_events={"tiny-b": [MULTI_ATTACH]},
    )
    p = plan_deployment(md(), obs, ChildDefaults("img"), "T")
    degraded = next(c for c in p.status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True"
    assert degraded["reason"] == "VolumeMultiAttach"
    assert [e.reason for e in p.events if e.type == "Warning"] == ["VolumeMultiAttach"]


def _cached(url: str, **extra: Any) -> dict[str, Any]:
    return {"source": {"url": {"url": url}}, "cache": {"size": "1Gi"}, **extra}


@pytest.mark.parametrize(
    ("base", "variant", "shares"),
    [
        # Two cached Models of different archives: both resolve to /models/model in
        # their own pods, which used to make them look like the same weights.
        (_cached("https://h/a.tar"), _cached("https://h/b.tar"), False),
        (_cached("https://h/a.tar"), _cached("https://h/a.tar", system="arr"), True),
        (
            {"source": {"pvc": {"claimName": "w1", "path": "m"}}},
            {"source": {"pvc": {"claimName": "w2", "path": "m"}}},
            False,
        ),
        (
            {"source": {"huggingFace": {"repo": "org/tiny"}}},
            {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}},
            True,
        ),
    ],
)
def test_cached_variants_share_weights_only_when_their_sources_do(
    base: dict[str, Any], variant: dict[str, Any], shares: bool
) -> None:
    models = {"tiny": model("tiny", base), "v": model("v", {**variant, "servedName": "v"})}
    obs = DeploymentObserved(models=models, children={})
    p = plan_deployment(md(variants=["v"]), obs, ChildDefaults("img"), "T")
    ready = next(c for c in p.status["conditions"] if c["type"] == "Ready")
    assert (ready["reason"] != "InvalidSpec") is shares, ready
    if shares:
        dep = next(o for o in p.apply if o["kind"] == "Deployment")
        mounts = dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        paths = [m["mountPath"] for m in mounts]
        assert len(paths) == len(set(paths))  # no two volumes on one in-pod path
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in dep["spec"]["template"]["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert "v-cache" not in claims  # the engine reads the base's copy only

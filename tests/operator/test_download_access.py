"""The download Job's own ServiceAccount/Role/RoleBinding (builders/download_access.py)
and how the Model plan makes, removes and reads progress through them. Pure."""

from __future__ import annotations

from typing import Any

from pasture_operator.builders.cache import job_name
from pasture_operator.builders.download_access import download_access
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.resolve import resolve
from pasture_operator.spec.owner import Owner
from tests.operator.helpers import model

CACHED = {
    "source": {"url": {"url": "https://example.com/tiny.tar.gz"}},
    "cache": {"size": "1Gi"},
}
OWNER = Owner("pasture.dev/v1alpha1", "Model", "tiny", "ns", "uid-1")
JOB = job_name(resolve(model("tiny", CACHED, phase=None)))
BOUND = {"metadata": {"name": "tiny-cache"}, "status": {"phase": "Bound"}}
PROGRESS = {
    "bytesDone": 5,
    "bytesTotal": 10,
    "bytesPerSecond": 1,
    "etaSeconds": 5,
    "progress": "50% of 10 B",
    "progressTime": "2026-01-01T00:00:00Z",
}


def test_the_role_allows_patching_this_models_status_only() -> None:
    sa, role, binding = download_access(OWNER, "tiny-dl-1")
    assert (sa["kind"], role["kind"], binding["kind"]) == ("ServiceAccount", "Role", "RoleBinding")
    assert role["rules"] == [
        {
            "apiGroups": ["pasture.dev"],
            "resources": ["models/status"],
            "resourceNames": ["tiny"],
            "verbs": ["patch"],
        }
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "tiny-dl-1",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tiny-dl-1", "namespace": "ns"}
    ]
    assert sa["automountServiceAccountToken"] is False  # only the Job's pod mounts it
    for obj in (sa, role, binding):
        assert obj["metadata"]["name"] == "tiny-dl-1"
        assert obj["metadata"]["namespace"] == "ns"
        ref = obj["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"]) == ("Model", "tiny", "uid-1")
        assert obj["metadata"]["labels"]["pasture.dev/model"] == "tiny"


def _plan(status: dict[str, Any] | None = None, **observed: Any) -> Any:
    body = model("tiny", CACHED, phase=None)
    if status is not None:
        body["status"] = status
    return plan_model(body, ModelObserved(**observed), downloader_image="op:test", now="T")


def _job(*conditions: str) -> dict[str, Any]:
    return {
        "kind": "Job",
        "metadata": {"name": JOB},
        "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]},
    }


def _running() -> dict[str, Any]:
    return {"metadata": {"name": "p", "labels": {"job-name": JOB}}, "status": {"phase": "Running"}}


def test_the_job_runs_as_its_own_account_made_before_it() -> None:
    p = _plan(cache_pvc=BOUND)
    kinds = [o["kind"] for o in p.apply]
    assert kinds == ["PersistentVolumeClaim", "ServiceAccount", "Role", "RoleBinding", "Job"]
    pod = p.apply[-1]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == JOB
    assert pod["automountServiceAccountToken"] is True
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["PASTURE_MODEL_NAME"]["value"] == "tiny"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert "POD_NAME" not in env  # no pod annotation any more


def test_access_observed_as_built_is_not_applied_again() -> None:
    first = _plan(cache_pvc=BOUND)
    access = [o for o in first.apply if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    again = _plan(cache_pvc=BOUND, jobs=[_job()], access=access)
    assert [o["kind"] for o in again.apply] == ["PersistentVolumeClaim"]  # BOUND is partial
    assert again.delete == []


def test_access_goes_when_the_download_is_done_or_failed() -> None:
    access = download_access(OWNER, JOB)
    for condition in ("Complete", "Failed"):
        p = _plan(cache_pvc=BOUND, jobs=[_job(condition)], access=access)
        assert sorted(p.delete) == [
            ("rbac.authorization.k8s.io/v1", "Role", JOB),
            ("rbac.authorization.k8s.io/v1", "RoleBinding", JOB),
            ("v1", "ServiceAccount", JOB),
        ], condition


def test_the_access_of_an_older_sources_job_goes_with_it() -> None:
    old = download_access(OWNER, "tiny-dl-0ld")
    p = _plan(cache_pvc=BOUND, jobs=[_job(), {**_job(), "metadata": {"name": "tiny-dl-0ld"}}])
    assert ("batch/v1", "Job", "tiny-dl-0ld") in p.delete
    p = _plan(cache_pvc=BOUND, jobs=[_job()], access=old)
    assert {name for _, _, name in p.delete} == {"tiny-dl-0ld"}
    assert len(p.delete) == 3


def test_progress_written_by_the_downloader_is_carried_while_downloading() -> None:
    status = {"phase": "Downloading", **PROGRESS, "digest": "sha256:ab"}
    p = _plan(status, cache_pvc=BOUND, jobs=[_job()], job_pods=[_running()])
    assert p.status["phase"] == "Downloading"
    assert {k: p.status[k] for k in PROGRESS} == PROGRESS
    assert p.status["digest"] == "sha256:ab"
    assert p.status_patch is not None
    assert not set(p.status_patch) & {*PROGRESS, "digest"}  # never overwritten by a pass


def test_ready_keeps_the_counts_and_drops_rate_and_eta() -> None:
    status = {"phase": "Downloading", **PROGRESS}
    p = _plan(status, cache_pvc=BOUND, jobs=[_job("Complete")])
    assert p.status["phase"] == "Ready"
    assert (p.status["bytesDone"], p.status["bytesTotal"]) == (5, 10)
    assert p.status_patch is not None
    assert p.status_patch["bytesPerSecond"] is None
    assert p.status_patch["etaSeconds"] is None


def test_progress_of_an_earlier_source_is_dropped_before_its_new_job_starts() -> None:
    p = _plan({"phase": "Ready", **PROGRESS}, cache_pvc=BOUND)  # no Job of this source yet
    assert not set(p.status) & set(PROGRESS)
    assert p.status_patch is not None
    assert all(p.status_patch[k] is None for k in PROGRESS)

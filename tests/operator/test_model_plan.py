"""Model resolution, cache children and the status derived from PVC/Job/pod states."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.builders.cache import job_name
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.resolve import resolve
from tests.operator.helpers import model

CACHED = {
    "source": {"url": {"url": "https://example.com/tiny.tar.gz"}},
    "cache": {"size": "1Gi", "storageClassName": "fast"},
}


def run(spec: dict[str, Any], obs: ModelObserved | None = None) -> Any:
    return plan_model(
        model("tiny", spec, phase=None), obs or ModelObserved(), downloader_image="op:test", now="T"
    )


def test_library_and_modelfile_resolution() -> None:
    r = resolve(
        model(
            "m",
            {
                "modelfile": "FROM qwen2.5:0.5b\nSYSTEM hi\nPARAMETER top_k 5",
                "parameters": {"temperature": 0.1},
            },
        )
    )
    assert r.engine_model == "Qwen/Qwen2.5-0.5B-Instruct-AWQ"
    assert r.entry["system"] == "hi"
    assert r.entry["parameters"] == {"top_k": 5, "temperature": 0.1}
    assert r.served_name == "m:latest"


def test_modelfile_error_is_a_failed_status_with_the_line() -> None:
    p = run({"modelfile": "FROM x\nPARAMETER nope 1"})
    assert p.status["phase"] == "Failed"
    assert p.status["conditions"][0]["reason"] == "InvalidModelfile"
    assert "line 2" in p.status["message"]


def test_unknown_library_name() -> None:
    p = run({"source": {"library": "mystery:9b"}})
    assert (p.status["phase"], p.reason) == ("Failed", "UnknownLibraryModel")


def test_cache_children() -> None:
    p = run(CACHED)
    pvc, _sa, _role, _binding, job = p.apply  # the Job's access: test_download_access.py
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert pvc["metadata"]["name"] == "tiny-cache"
    assert pvc["spec"]["storageClassName"] == "fast"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert job["kind"] == "Job"
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:2] == ["-m", "pasture_operator.downloader"]
    assert "--url-env" in c["args"]
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]


def _job(**cond: str) -> dict[str, Any]:
    r = resolve(model("tiny", CACHED, phase=None))
    return {
        "metadata": {"name": job_name(r)},
        "status": {"conditions": [{"status": "True", **cond}]} if cond else {},
    }


def _pod(phase: str, **extra: Any) -> dict[str, Any]:
    r = resolve(model("tiny", CACHED, phase=None))
    return {
        "metadata": {
            "name": "dl-1",
            "labels": {"job-name": job_name(r)},
            "annotations": extra.pop("annotations", {}),
        },
        "status": {"phase": phase, **extra},
    }


BOUND = {
    "metadata": {"name": "tiny-cache"},
    "spec": {"storageClassName": "fast"},
    "status": {"phase": "Bound"},
}
PENDING = {
    "metadata": {"name": "tiny-cache"},
    "spec": {"storageClassName": "fast"},
    "status": {"phase": "Pending"},
}


@pytest.mark.parametrize(
    ("obs", "phase", "reason", "fragment"),
    [
        (ModelObserved(cache_pvc=BOUND, jobs=[_job(type="Complete")]), "Ready", "Downloaded", ""),
        (
            ModelObserved(cache_pvc=PENDING, storage_classes=[]),
            "Pending",
            "PVCUnbound",
            "StorageClass 'fast' does not exist",
        ),
        (
            ModelObserved(
                cache_pvc=BOUND,
                jobs=[_job()],
                job_pods=[_pod("Running")],
            ),
            "Downloading",
            "Downloading",
            "",
        ),
        (
            ModelObserved(
                cache_pvc=BOUND,
                jobs=[_job(type="Failed", reason="PodFailurePolicy")],
                job_pods=[
                    _pod(
                        "Failed",
                        containerStatuses=[
                            {
                                "state": {
                                    "terminated": {
                                        "exitCode": 2,
                                        "message": "HTTP 401 Unauthorized from https://x",
                                    }
                                }
                            }
                        ],
                    )
                ],
            ),
            "Failed",
            "DownloadFailed",
            "HTTP 401",
        ),
        (
            ModelObserved(
                cache_pvc=BOUND,
                jobs=[_job(type="Failed", reason="BackoffLimitExceeded")],
                job_pods=[
                    _pod(
                        "Failed",
                        containerStatuses=[
                            {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
                        ],
                    )
                ],
            ),
            "Failed",
            "DownloadOOMKilled",
            "OOMKilled",
        ),
        (
            ModelObserved(
                cache_pvc=BOUND,
                jobs=[
                    _job(
                        type="Failed",
                        reason="BackoffLimitExceeded",
                        message="Job has reached the backoff limit",
                    )
                ],
            ),
            "Failed",
            "DownloadFailed",
            "backoff limit",
        ),
    ],
)
def test_cache_status(obs: ModelObserved, phase: str, reason: str, fragment: str) -> None:
    p = run(CACHED, obs)
    assert (p.status["phase"], p.reason) == (phase, reason)
    assert fragment in p.status["message"]


def test_pvc_source_states() -> None:
    spec = {"source": {"pvc": {"claimName": "w", "path": "tiny"}}}
    assert run(spec).reason == "PVCNotFound"
    bound = {"metadata": {"name": "w"}, "status": {"phase": "Bound"}}
    p = run(spec, ModelObserved(source_pvc=bound))
    assert p.status["phase"] == "Ready"
    assert p.status["enginePath"] == "/models/tiny"
    unbound = {"metadata": {"name": "w"}, "spec": {}, "status": {"phase": "Pending"}}
    p = run(spec, ModelObserved(source_pvc=unbound, storage_classes=[]))
    assert "no default StorageClass" in p.status["message"]

"""The weights digest in the operator (pure): the digest the downloader writes
into status with its final report stays there for that download, a pinned
spec.digest fails the Model on a mismatch, and the runtime pods get the pin and
the verification switch."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.spec.model import ModelSpec
from tests.operator.helpers import md, model
from tests.operator.test_model_plan import BOUND, CACHED, _job, _pod

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


SOURCE = "https://example.com/tiny.tar.gz"  # CACHED's, as status.source shows it


def _done() -> ModelObserved:
    """A finished download (its Job Complete)."""
    return ModelObserved(
        cache_pvc=BOUND, jobs=[_job(type="Complete")], job_pods=[_pod("Succeeded")]
    )


def _reported(digest: str | None) -> dict[str, Any]:
    """The status the downloader's final report leaves (progress.py writes it)."""
    return {"phase": "Downloading", "source": SOURCE, **({"digest": digest} if digest else {})}


def _plan(obs: ModelObserved, pin: str | None = None, status: dict[str, Any] | None = None) -> Any:
    body = model("tiny", {**CACHED, **({"digest": pin} if pin else {})}, phase=None)
    if status is not None:
        body["status"] = status
    return plan_model(body, obs, downloader_image="op:test", now="T")


@pytest.mark.parametrize(
    ("reported", "pin", "phase", "reason", "says"),
    [
        (DIGEST, None, "Ready", "Downloaded", "the cache holds the model"),
        (DIGEST, DIGEST, "Ready", "Downloaded", "the cache holds the model"),
        (OTHER, DIGEST, "Failed", "DigestMismatch", f"have digest {OTHER}, but spec.digest pins"),
        (None, DIGEST, "Failed", "DigestMismatch", "the download reported no digest"),
        (None, None, "Ready", "Downloaded", "the cache holds the model"),
    ],
    ids=["reported", "pin-holds", "pin-mismatch", "pin-no-report", "old-downloader"],
)
def test_the_reported_digest_reaches_status_and_a_pin_is_enforced(
    reported: str | None, pin: str | None, phase: str, reason: str, says: str
) -> None:
    p = _plan(_done(), pin, status=_reported(reported))
    assert (p.status["phase"], p.reason) == (phase, reason)
    assert says in p.status["message"]
    assert p.status.get("digest") == reported
    if phase == "Failed":
        assert [(e.type, e.reason) for e in p.events] == [("Warning", "DigestMismatch")]
        assert p.apply == [] or all(o["kind"] != "Job" for o in p.apply)  # no new download


def test_a_pin_mismatch_serves_nothing() -> None:
    models = {"tiny": {**model("tiny", {**CACHED, "digest": DIGEST}, phase=None)}}
    models["tiny"]["status"] = _plan(_done(), DIGEST, status=_reported(OTHER)).status
    obs = DeploymentObserved(models=models, children={}, pods=[])
    p = plan_deployment(md(), obs, ChildDefaults(default_image="rt:test"), "T")
    ready = next(c for c in p.status["conditions"] if c["type"] == "ModelReady")
    assert (ready["status"], ready["reason"]) == ("False", "ModelFailed")
    assert "spec.digest pins" in ready["message"]
    dep = next((o for o in p.desired if o["kind"] == "Deployment"), None)
    assert dep is None or dep["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("obs", "source", "kept"),
    [
        # The Job's pods are gone (deleted by hand): the digest already in status stays.
        (ModelObserved(cache_pvc=BOUND, jobs=[_job(type="Complete")]), "same", True),
        # A report written straight into status while the Job runs stays too.
        (ModelObserved(cache_pvc=BOUND, jobs=[_job()], job_pods=[_pod("Running")]), "same", True),
        # Another source (another Job name, not made yet): the old weights' digest goes.
        (ModelObserved(cache_pvc=BOUND), "same", False),
    ],
    ids=["pods-gone", "running", "no-job"],
)
def test_a_digest_in_status_is_kept_only_for_the_same_download(
    obs: ModelObserved, source: str, kept: bool
) -> None:
    p = _plan(obs, status={"phase": "Ready", "source": SOURCE, "digest": DIGEST})
    assert (p.status.get("digest") == DIGEST) is kept


def test_spec_view_parses_the_pin_and_the_switch() -> None:
    plain = ModelSpec.from_object(model("tiny", dict(CACHED)))
    assert (plain.digest, plain.verify_weights) == (None, True)
    both = ModelSpec.from_object(
        model("tiny", {**CACHED, "digest": DIGEST, "verifyWeights": False})
    )
    assert (both.digest, both.verify_weights) == (DIGEST, False)


def _runtime_env(spec: dict[str, Any]) -> dict[str, Any]:
    obs = DeploymentObserved(models={"tiny": model("tiny", spec)}, children={}, pods=[])
    p = plan_deployment(md(), obs, ChildDefaults(default_image="rt:test"), "T")
    dep = next(o for o in p.desired if o["kind"] == "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_runtime_pods_get_the_pin_and_the_switch_only_when_set() -> None:
    plain = _runtime_env(dict(CACHED))
    assert "PASTURE_ENGINE__VERIFY_WEIGHTS" not in plain  # default on: template unchanged
    assert "PASTURE_ENGINE__WEIGHTS_DIGEST" not in plain
    env = _runtime_env({**CACHED, "digest": DIGEST, "verifyWeights": False})
    assert env["PASTURE_ENGINE__VERIFY_WEIGHTS"] == "false"
    assert env["PASTURE_ENGINE__WEIGHTS_DIGEST"] == DIGEST

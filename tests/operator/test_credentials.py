"""Credentials never shown (issue 11, item 19): the redact function, and where it
applies (status.source, messages, Events, Job args); auth headers from a Secret; an
HF mirror and offline mode for runtimes that serve local weights."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.redact import redact
from tests.operator.helpers import md, model


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://example.com/m.tar.gz", "https://example.com/m.tar.gz"),
        ("https://alice:s3cret@example.com/m.tar", "https://REDACTED@example.com/m.tar"),
        ("https://ghp_abc@example.com/m.tar", "https://REDACTED@example.com/m.tar"),
        (
            "https://b.s3.amazonaws.com/m.tar?X-Amz-Algorithm=AWS4&X-Amz-Credential=AK%2F1"
            "&X-Amz-Signature=abc123&X-Amz-Expires=60",
            "https://b.s3.amazonaws.com/m.tar?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED"
            "&X-Amz-Signature=REDACTED&X-Amz-Expires=60",
        ),
        (
            "https://a.blob.core.windows.net/c/m.zip?sv=2022&se=2030&sp=r&sig=xyz",
            "https://a.blob.core.windows.net/c/m.zip?sv=REDACTED&se=REDACTED&sp=r&sig=REDACTED",
        ),
        (
            "https://h/m?token=t1&api_key=k&download=true&access_token=a",
            "https://h/m?token=REDACTED&api_key=REDACTED&download=true&access_token=REDACTED",
        ),
        (
            "HTTP 403 Forbidden from https://u:p@h/x?Signature=s, retrying",
            "HTTP 403 Forbidden from https://REDACTED@h/x?Signature=REDACTED, retrying",
        ),
        (
            "two: http://a:b@h1/ and 'http://h2/?password=p'",
            "two: http://REDACTED@h1/ and 'http://h2/?password=REDACTED'",
        ),
        ("no url here: token=abc", "no url here: token=abc"),
        ("hf://org/tiny", "hf://org/tiny"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


SECRET_URL = "https://alice:s3cret@example.com/m.tar.gz?X-Amz-Signature=abc123"


def _cached(url: str = SECRET_URL, **extra: Any) -> dict[str, Any]:
    return {"source": {"url": {"url": url, **extra}}, "cache": {"size": "1Gi"}}


def _text(obj: Any) -> str:
    return repr(obj)


def test_status_and_job_args_never_carry_url_credentials() -> None:
    p = plan_model(
        model("m", _cached(), phase=None), ModelObserved(), downloader_image="i", now="T"
    )
    assert p.status["source"] == "https://REDACTED@example.com/m.tar.gz?X-Amz-Signature=REDACTED"
    assert "s3cret" not in _text(p.status)
    assert "abc123" not in _text(p.status)
    job = next(o for o in p.apply if o["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "s3cret" not in _text(container["args"])
    assert "abc123" not in _text(container["args"])
    # The downloader gets the URL from its environment, not from its command line.
    env = {e["name"]: e for e in container["env"]}
    assert env["PASTURE_DOWNLOAD_URL"]["value"] == SECRET_URL


def test_failure_messages_and_events_are_redacted() -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "dl", "labels": {}},
        "status": {
            "containerStatuses": [
                {
                    "state": {
                        "terminated": {
                            "exitCode": 2,
                            "message": f"HTTP 403 Forbidden from {SECRET_URL}",
                        }
                    }
                }
            ]
        },
    }
    body = model("m", _cached(), phase=None)
    first = plan_model(body, ModelObserved(), downloader_image="i", now="T")
    job = next(o for o in first.apply if o["kind"] == "Job")
    pod["metadata"]["labels"]["job-name"] = job["metadata"]["name"]
    failed = {
        "metadata": {"name": job["metadata"]["name"]},
        "status": {"conditions": [{"type": "Failed", "status": "True", "message": SECRET_URL}]},
    }
    p = plan_model(
        body, ModelObserved(jobs=[failed], job_pods=[pod]), downloader_image="i", now="T"
    )
    assert p.phase == "Failed"
    assert "s3cret" not in p.message
    assert "abc123" not in p.message
    assert "REDACTED" in p.message
    assert "s3cret" not in _text(p.status)


def test_headers_from_a_secret_reach_the_job_as_env() -> None:
    spec = _cached("https://example.com/m.tar", headersSecret={"name": "dl-auth", "key": "h"})
    p = plan_model(model("m", spec, phase=None), ModelObserved(), downloader_image="i", now="T")
    job = next(o for o in p.apply if o["kind"] == "Job")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PASTURE_DOWNLOAD_HEADERS"]["valueFrom"] == {
        "secretKeyRef": {"name": "dl-auth", "key": "h"}
    }


def test_hf_mirror_reaches_jobs_and_runtimes() -> None:
    hf = {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}}
    p = plan_model(
        model("m", hf, phase=None),
        ModelObserved(),
        downloader_image="i",
        now="T",
        hf_endpoint="https://hf-mirror.internal",
    )
    job = next(o for o in p.apply if o["kind"] == "Job")
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["HF_ENDPOINT"] == "https://hf-mirror.internal"
    s = ChildDefaults("img", hf_endpoint="https://hf-mirror.internal")
    dep = _deployment(model(), s)
    assert _env(dep)["HF_ENDPOINT"] == "https://hf-mirror.internal"


def _deployment(m: dict[str, Any], s: ChildDefaults) -> dict[str, Any]:
    obs = DeploymentObserved(models={"tiny": m}, children={})
    return next(o for o in plan_deployment(md(), obs, s, "T").apply if o["kind"] == "Deployment")


def _env(dep: dict[str, Any]) -> dict[str, Any]:
    return {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }


@pytest.mark.parametrize(
    ("spec", "offline"),
    [
        ({"source": {"huggingFace": {"repo": "org/tiny"}}}, False),
        ({"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}}, True),
        ({"source": {"pvc": {"claimName": "w"}}}, True),
        (
            {
                "source": {"pvc": {"claimName": "w"}},
                "adapters": [{"name": "a", "source": {"huggingFace": {"repo": "org/lora"}}}],
            },
            False,  # the adapter still comes from the hub
        ),
    ],
)
def test_offline_when_serving_local_weights(spec: dict[str, Any], offline: bool) -> None:
    env = _env(_deployment(model("tiny", spec), ChildDefaults("img")))
    assert (env.get("HF_HUB_OFFLINE") == "1") is offline


def test_a_model_message_quoted_by_a_deployment_is_redacted() -> None:
    failed = model("tiny", phase="Failed")
    failed["status"]["message"] = f"HTTP 404 Not Found from {SECRET_URL}"
    obs = DeploymentObserved(models={"tiny": failed}, children={})
    p = plan_deployment(md(), obs, ChildDefaults("img"), "T")
    assert "s3cret" not in _text(p.status)
    assert "s3cret" not in _text(p.events)
    assert "REDACTED" in _text(p.status)

"""The management plans (pure): request -> objects to create, and a Model's
status -> Ollama's pull progress lines."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_gateway.protocol import pull_progress as pp
from pasture_gateway.usecases.manage_plan import (
    LOCAL_WEIGHTS,
    ManageDefaults,
    deployment_object,
    managed,
    model_object,
    object_name,
    plan_create,
    source_for,
    variant_object,
)

D = ManageDefaults(namespace="ml", cache_size="5Gi", storage_class="fast", gpu_profile="a10")


@pytest.mark.parametrize(
    ("name", "want"),
    [("tiny", "tiny"), ("tiny:latest", "tiny"), ("TINY", "tiny"), ("library/tiny", "tiny")],
)
def test_plain_names_keep_their_object_name(name: str, want: str) -> None:
    assert object_name(name) == want


def test_names_with_punctuation_get_a_hash_so_they_stay_apart() -> None:
    a, b = object_name("qwen2.5:0.5b"), object_name("qwen2-5:0-5b")
    assert a.startswith("qwen2-5-0-5b-")
    assert b.startswith("qwen2-5-0-5b-")
    assert a != b
    assert object_name("hf.co/Org/Repo:Q4") == object_name("hf.co/org/repo:q4")
    assert len(object_name("x" * 300 + ":tag")) <= 52


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("tiny", {"library": "tiny:latest"}),
        ("qwen2.5:0.5b", {"library": "qwen2.5:0.5b"}),
        ("hf.co/Org/Repo", {"huggingFace": {"repo": "Org/Repo"}}),
        ("hf.co/Org/Repo:latest", {"huggingFace": {"repo": "Org/Repo"}}),
        ("huggingface.co/Org/Repo:v2", {"huggingFace": {"repo": "Org/Repo", "revision": "v2"}}),
    ],
)
def test_source_of_a_pulled_name(name: str, want: dict[str, Any]) -> None:
    assert source_for(name) == want


def test_pull_makes_a_cached_model_and_a_scale_to_zero_deployment() -> None:
    m = model_object("tiny", source_for("tiny"), D, "key-1")
    assert m["kind"] == "Model"
    assert m["metadata"]["namespace"] == "ml"
    assert m["spec"] == {
        "servedName": "tiny:latest",
        "source": {"library": "tiny:latest"},
        "cache": {"size": "5Gi", "storageClassName": "fast"},
    }
    assert managed(m)
    assert m["metadata"]["annotations"]["pasture.dev/created-by"] == "key-1"
    md = deployment_object("tiny", "uid-1", D, "key-1")
    assert md["spec"]["modelRef"] == {"name": "tiny"}
    assert md["spec"]["replicas"] == 0
    assert md["spec"]["autoscaling"] == {
        "enabled": True, "minReplicas": 0, "maxReplicas": 1, "idleTimeout": "5m",
        "allowUnload": True,
    }  # fmt: skip
    assert md["spec"]["resources"] == {"profile": "a10"}
    assert md["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert managed(md)
    no_profile = deployment_object("tiny", "", ManageDefaults(), "k")
    assert "resources" not in no_profile["spec"]
    assert "ownerReferences" not in no_profile["metadata"]


def test_a_variant_takes_the_base_weights_and_its_own_settings() -> None:
    base = {
        "metadata": {"name": "tiny"},
        "spec": {"source": {"url": {"url": "http://x/t.tar"}}, "cache": {"size": "1Gi"},
                 "system": "base", "parameters": {"temperature": 0.1}},
    }  # fmt: skip
    v = variant_object("pirate", base, D, "key-2", {"system": "arr"})
    assert v["metadata"]["name"] == "pirate"
    assert v["spec"]["source"] == {"url": {"url": "http://x/t.tar"}}
    assert v["spec"]["system"] == "arr"
    assert v["spec"]["parameters"] == {"temperature": 0.1}
    assert v["spec"]["cache"] == {"size": "1Gi"}
    assert v["spec"]["servedName"] == "pirate:latest"


def test_create_structured_form() -> None:
    plan = plan_create({
        "model": "pirate", "from": "tiny", "system": "arr", "parameters": {"top_k": 5},
        "template": "{{ .Prompt }}", "messages": [{"role": "user", "content": "hi"}],
        "license": ["MIT", "Apache"], "stream": True,
    })  # fmt: skip
    assert (plan.model, plan.source, plan.refused) == ("pirate", "tiny", "")
    assert plan.fields == {
        "system": "arr", "parameters": {"top_k": 5}, "template": "{{ .Prompt }}",
        "messages": [{"role": "user", "content": "hi"}], "license": "MIT\nApache",
    }  # fmt: skip


def test_create_older_modelfile_string_goes_to_the_model_as_is() -> None:
    text = 'FROM tiny\nSYSTEM """arr"""\nPARAMETER temperature 0.2\n'
    plan = plan_create({"name": "pirate", "modelfile": text})
    assert (plan.model, plan.source, plan.refused) == ("pirate", "tiny", "")
    assert plan.fields == {"modelfile": text}


@pytest.mark.parametrize(
    "doc",
    [
        {"model": "x", "from": "./model.gguf"},
        {"model": "x", "files": {"model.gguf": "sha256:ab"}},
        {"model": "x", "from": "tiny", "adapters": {"a.gguf": "sha256:cd"}},
        {"model": "x", "modelfile": "FROM /models/x.gguf\n"},
    ],
)
def test_local_weights_are_refused_saying_how_to_serve_them(doc: dict[str, Any]) -> None:
    assert plan_create(doc).refused == LOCAL_WEIGHTS
    assert "PersistentVolumeClaim" in LOCAL_WEIGHTS
    assert "URL" in LOCAL_WEIGHTS


def test_create_without_a_source_is_refused() -> None:
    assert "FROM" in plan_create({"model": "x", "system": "s"}).refused


def _model(status: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "tiny", "generation": generation}, "status": status}


DIGEST = pp.blob_digest("ml", "tiny", "uid-1")


def test_progress_lines_follow_the_download() -> None:
    assert DIGEST.startswith("sha256:")
    assert len(DIGEST) == 71
    pending = pp.ModelProgress.of(None)
    assert pp.blob_line(DIGEST, pending) is None  # no total yet: no bar
    p = pp.ModelProgress.of(
        _model(
            {"observedGeneration": 1, "phase": "Downloading", "bytesDone": 40, "bytesTotal": 100}
        )
    )
    assert not p.ready
    assert not p.failed
    assert pp.blob_line(DIGEST, p) == {
        "status": f"pulling {DIGEST[7:19]}", "digest": DIGEST, "total": 100, "completed": 40,
    }  # fmt: skip
    zero = pp.ModelProgress.of(_model({"phase": "Downloading", "bytesTotal": 100}))
    assert "completed" not in (pp.blob_line(DIGEST, zero) or {})
    done = pp.ModelProgress.of(
        _model({"observedGeneration": 1, "phase": "Ready", "bytesTotal": 100})
    )
    assert done.ready
    assert (pp.blob_line(DIGEST, done) or {})["completed"] == 100
    assert [x["status"] for x in pp.finish_lines()] == [
        "verifying sha256 digest", "writing manifest", "success",
    ]  # fmt: skip
    assert pp.manifest_line() == {"status": "pulling manifest"}


def test_a_stale_phase_is_not_a_verdict() -> None:
    stale = pp.ModelProgress.of(_model({"observedGeneration": 1, "phase": "Ready"}, generation=2))
    assert not stale.ready
    unseen = pp.ModelProgress.of(_model({"phase": "Failed"}))
    assert not unseen.failed


def _failed(reason: str, message: str) -> pp.ModelProgress:
    cond = {"type": "Ready", "status": "False", "reason": reason, "message": message}
    return pp.ModelProgress.of(
        _model({"observedGeneration": 1, "phase": "Failed", "message": message,
                "conditions": [cond]})
    )  # fmt: skip


def test_unknown_names_get_ollamas_own_text() -> None:
    p = _failed("UnknownLibraryModel", "'nope' is not in the library catalog")
    assert p.unknown_name
    assert pp.failure_text(p) == "pull model manifest: file does not exist"


def test_a_failed_download_ends_with_the_models_reason() -> None:
    p = _failed("DownloadFailed", "HTTP 404 from http://x/t.tar")
    assert pp.failure_text(p) == "DownloadFailed: HTTP 404 from http://x/t.tar"
    assert pp.error_line("e") == {"error": "e"}

"""A `library` Model reaches the runtime config its catalog entry describes
(kind, tool and reasoning parsers, vision, context; the Model's own spec wins),
and a gated entry's download and pods get a token Secret or a clear condition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pasture_operator import catalog
from pasture_operator.builders import configmap as cm
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.resolve import resolve
from pasture_operator.spec.deployment import DeploymentSpec
from tests.operator.helpers import md, model


def engine_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The runtime config's `engine` for a Model of this spec, served by a plain deployment."""
    deployment = DeploymentSpec.from_spec(md()["spec"])
    config = cm.runtime_config(deployment, resolve(model("m", spec)), (), gpus=1)
    engine: dict[str, Any] = config["engine"]
    return engine


def library(name: str, **spec: Any) -> dict[str, Any]:
    return {"source": {"library": name}, **spec}


KINDS: list[tuple[str, dict[str, Any]]] = [
    (
        "qwen3:8b",  # generation with tools and thinking, text only
        {
            "runner": "generate",
            "model": "Qwen/Qwen3-8B-AWQ",
            "tool_call_parser": "hermes",
            "reasoning_parser": "qwen3",
            "extra_args": {"language_model_only": True},
        },
    ),
    (
        "qwen2.5vl:7b",  # vision: the image encoder stays on
        {"runner": "generate", "model": "Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "extra_args": {}},
    ),
    (
        "nomic-embed-text",  # embedding, with its context and the repo's config code
        {
            "runner": "pooling",
            "model": "nomic-ai/nomic-embed-text-v1.5",
            "max_model_len": 2048,
            "extra_args": {"language_model_only": True, "trust_remote_code": True},
        },
    ),
    ("phi3:mini", {"runner": "generate", "max_model_len": 4096}),
]


@pytest.mark.parametrize(("name", "want"), KINDS, ids=[k[0] for k in KINDS])
def test_a_library_model_reaches_its_entrys_runtime_config(name: str, want: dict[str, Any]) -> None:
    engine = engine_of(library(name))
    assert {k: engine.get(k) for k in want} == want
    if "tool_call_parser" not in want:
        assert "tool_call_parser" not in engine
    if "reasoning_parser" not in want:
        assert "reasoning_parser" not in engine


def test_the_models_own_spec_wins_over_the_entry() -> None:
    engine = engine_of(
        library(
            "qwen3:8b",
            kind="embedding",
            engine={
                "toolParser": "qwen3_xml",
                "reasoningParser": "deepseek_r1",
                "maxContext": 1024,
            },
        )
    )
    assert engine["runner"] == "pooling"
    assert (engine["tool_call_parser"], engine["reasoning_parser"]) == ("qwen3_xml", "deepseek_r1")
    assert engine["max_model_len"] == 1024


def test_the_deployments_engine_args_win_over_the_entrys() -> None:
    deployment = DeploymentSpec.from_spec(
        md(engine={"maxModelLen": 512, "extraArgs": {"language_model_only": False}})["spec"]
    )
    config = cm.runtime_config(deployment, resolve(model("m", library("phi3:mini"))), (), gpus=1)
    assert config["engine"]["max_model_len"] == 512
    assert config["engine"]["extra_args"]["language_model_only"] is False


def test_a_model_without_a_library_source_is_unchanged() -> None:
    engine = engine_of({"source": {"huggingFace": {"repo": "org/tiny"}}})
    assert engine["runner"] == "generate"
    assert engine["extra_args"] == {}


# --- gated entries ---------------------------------------------------------------


@pytest.fixture
def token_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The chart's catalog.hfTokenSecret, as its extra.yaml carries it."""
    extra = tmp_path / "extra.yaml"
    extra.write_text("entries: {}\ntokenSecret: {name: hf-default, key: hf}\n")
    monkeypatch.setenv(catalog.CATALOG_ENV, f"{catalog.DEFAULT_FILE}:{extra}")
    catalog.load.cache_clear()
    yield
    catalog.load.cache_clear()


def plan(spec: dict[str, Any]) -> Any:
    return plan_model(
        model("m", spec, phase=None), ModelObserved(), downloader_image="op:t", now="T"
    )


def test_a_gated_entry_without_a_token_fails_with_what_to_do() -> None:
    p = plan(library("llama3.2:1b"))
    assert (p.status["phase"], p.reason) == ("Failed", "TokenSecretRequired")
    assert "'llama3.2:1b' is gated on Hugging Face (meta-llama/Llama-3.2-1B-Instruct)" in p.message
    assert "spec.source.libraryTokenSecret" in p.message
    assert "catalog.hfTokenSecret" in p.message


def test_the_models_token_secret_reaches_the_download_and_the_pods() -> None:
    spec = library("llama3.2:1b", cache={"size": "5Gi"})
    spec["source"]["libraryTokenSecret"] = {"name": "mine"}
    resolved = resolve(model("m", spec))
    assert resolved.hf_token_secret == {"name": "mine", "key": "token"}
    (job,) = [o for o in plan(spec).desired if o["kind"] == "Job"]
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "mine", "key": "token"}},
    } in env


def test_the_charts_default_token_serves_gated_entries_only(token_default: None) -> None:
    assert resolve(model("m", library("gemma3:1b"))).hf_token_secret == {
        "name": "hf-default",
        "key": "hf",
    }
    assert resolve(model("m", library("qwen3:8b"))).hf_token_secret is None
    own = library("gemma3:1b")
    own["source"]["libraryTokenSecret"] = {"name": "mine", "key": "t"}
    assert resolve(model("m", own)).hf_token_secret == {"name": "mine", "key": "t"}

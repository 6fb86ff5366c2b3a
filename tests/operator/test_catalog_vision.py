"""An entry's `vision` reaches vLLM: the operator's runtime config, read by the
runtime's own config model and engine-argument builder, gives a text-only
entry no image input (language_model_only) and leaves a vision entry's images
on. vLLM reads the tiny models' configs here; no engine starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pasture_operator.builders import configmap as cm
from pasture_operator.catalog_entry import validate_entry
from pasture_operator.reconcile.resolve import resolve
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine_build import engine_args
from tests.operator.helpers import md, model


def images_per_prompt(model_dir: Path, vision: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    """vLLM's image limit for `model_dir` served as a library entry with `vision`."""
    entry = validate_entry("m:1b", {"source": {"huggingFace": {"repo": "o/m"}}, "vision": vision})
    monkeypatch.setattr("pasture_operator.catalog.resolve", lambda name: entry)
    resolved = resolve(model("m", {"source": {"library": "m:1b"}}))
    config = cm.runtime_config(DeploymentSpec.from_spec(md()["spec"]), resolved, (), gpus=1)
    # The runtime reads the rendered file; only the weights' path differs in a pod.
    parsed: dict[str, Any] = yaml.safe_load(cm.render(config))
    parsed["engine"]["model"] = str(model_dir)
    parsed["engine"]["max_model_len"] = 256
    args = engine_args(RuntimeConfig.model_validate(parsed).engine)
    mm = args.create_model_config().multimodal_config
    return int(mm.get_limit_per_prompt("image")) if mm is not None else 0


@pytest.mark.vllm  # vLLM's own registries/config: the vllm tier
def test_vision_entries_keep_images_and_text_entries_drop_the_encoder(
    tiny_vision_model_dir: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert images_per_prompt(tiny_vision_model_dir, True, monkeypatch) > 0
    assert images_per_prompt(tiny_vision_model_dir, False, monkeypatch) == 0
    assert images_per_prompt(tiny_model_dir, False, monkeypatch) == 0  # text-only: no effect

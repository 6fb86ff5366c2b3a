"""Every PARAMETER Ollama's Modelfile takes is accepted; those with no vLLM
equivalent are reported in the Model's status; several ADAPTERs are refused
with the way out (vLLM applies one LoRA per request)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pasture_operator import modelfile
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.resolve import ResolveError, resolve
from tests.operator.helpers import model

ROOT = Path(__file__).resolve().parents[2]
VALUE = {int: "3", float: "0.5", bool: "true", str: '"</s>"'}


@pytest.fixture(scope="module")
def ollama_module() -> Path:
    """The pinned github.com/ollama/ollama module (hack/ollama-module, cached)."""
    out = subprocess.run(
        [str(ROOT / "hack" / "ollama-module")], check=True, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    return Path(out.stdout.strip())


def _ollama_parameters(module: Path) -> set[str]:
    """api.Options and api.Runner's json names, and parser.go's deprecatedParameters
    (which Ollama's parser accepts with a warning)."""
    types = (module / "api" / "types.go").read_text()
    names: set[str] = set()
    for struct in ("Options", "Runner"):
        body = re.search(rf"^type {struct} struct {{(.*?)^}}", types, re.S | re.M)
        assert body, struct
        names |= set(re.findall(r'json:"([a-z_]+)', body.group(1)))
    parser = (module / "parser" / "parser.go").read_text()
    deprecated = re.search(r"deprecatedParameters = \[\]string{(.*?)}", parser, re.S)
    assert deprecated
    return names | set(re.findall(r'"([a-z_]+)"', deprecated.group(1)))


def test_every_ollama_parameter_is_accepted(ollama_module: Path) -> None:
    ollama = _ollama_parameters(ollama_module)
    assert {"num_gpu", "num_thread", "use_mmap", "mirostat", "temperature"} <= ollama
    assert ollama <= set(modelfile.PARAMETER_TYPES)
    text = "FROM x\n" + "".join(
        f"PARAMETER {name} {VALUE[modelfile.PARAMETER_TYPES[name]]}\n" for name in sorted(ollama)
    )
    assert set(modelfile.parse(text).parameters) == ollama


def test_booleans_read_as_go_does() -> None:
    mf = modelfile.parse("FROM x\nPARAMETER use_mmap F\nPARAMETER numa 1")
    assert mf.parameters == {"use_mmap": False, "numa": True}
    with pytest.raises(modelfile.ModelfileError, match="use_mmap needs a bool"):
        modelfile.parse("FROM x\nPARAMETER use_mmap yes")


@pytest.mark.parametrize(
    ("parameters", "ignored"),
    [
        ({"temperature": 0.1, "num_ctx": 8, "stop": ["x"]}, ()),
        ({"num_gpu": 99, "temperature": 0.1, "mirostat": 2}, ("mirostat", "num_gpu")),
        ({"num_thread": 8, "use_mmap": False, "typical_p": 0.9},
         ("num_thread", "typical_p", "use_mmap")),
        ({"repeat_last_n": 64}, ("repeat_last_n",)),
    ],
)  # fmt: skip
def test_ignored_parameters(parameters: dict[str, Any], ignored: tuple[str, ...]) -> None:
    assert modelfile.ignored_parameters(parameters) == ignored


def _plan(spec: dict[str, Any]) -> Any:
    return plan_model(
        model("tiny", spec, phase=None), ModelObserved(), downloader_image="op:test", now="T"
    )


def test_ignored_parameters_are_in_the_status_not_a_failure() -> None:
    p = _plan(
        {
            "modelfile": "FROM org/repo\nPARAMETER num_gpu 99\nPARAMETER mirostat 2\n"
            "PARAMETER temperature 0.2",
        }
    )
    assert p.status["phase"] == "Ready"
    assert p.status["ignoredParameters"] == ["mirostat", "num_gpu"]
    assert p.status["message"].endswith(
        "; ignored parameters (no vLLM equivalent): mirostat, num_gpu"
    )
    # Still passed on: /api/show lists them as Ollama does; the runtime ignores them.
    assert p.resolved.entry["parameters"] == {"num_gpu": 99, "mirostat": 2, "temperature": 0.2}


def test_no_ignored_parameters_no_field() -> None:
    p = _plan({"modelfile": "FROM org/repo\nPARAMETER temperature 0.2"})
    assert "ignoredParameters" not in p.status


def test_one_adapter_is_served() -> None:
    r = resolve(model("m", {"modelfile": "FROM org/repo\nADAPTER hf.co/org/lora"}))
    assert r.entry["adapter"] == {"path": "org/lora"}


def test_several_adapters_are_refused_with_the_way_out() -> None:
    """Before: the first ADAPTER was served and the others dropped silently."""
    text = "FROM org/repo\nADAPTER hf.co/org/a\nADAPTER hf.co/org/b"
    with pytest.raises(ResolveError) as e:
        resolve(model("m", {"modelfile": text}))
    assert e.value.reason == "UnsupportedAdapters"
    assert "one LoRA adapter per request" in e.value.message
    assert "variants" in e.value.message
    p = _plan({"modelfile": text})
    assert (p.status["phase"], p.reason) == ("Failed", "UnsupportedAdapters")

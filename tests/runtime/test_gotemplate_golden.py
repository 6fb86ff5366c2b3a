"""Pasture's Go-template renderer against Ollama's own template package: the
cases of gotemplate_cases.py (real library templates with tools, tool calls,
thinking, the legacy and suffix paths, every builtin, printing of Go values,
errors) rendered by Ollama (hack/gotemplate-golden/generate) must render
byte-identical here, and what Ollama refuses is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pasture_runtime.translate.gotemplate import TemplateError, Values, parse
from tests.runtime.gotemplate_cases import CASES

GOLDEN: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "gotemplate_golden.json").read_text()
)


def test_the_golden_file_holds_every_case() -> None:
    assert [c["name"] for c in GOLDEN] == [c["name"] for c in CASES]
    assert [c["template"] for c in GOLDEN] == [c["template"] for c in CASES]


# Where Pasture follows current Ollama rather than the pinned module's (v0.17.4).
NEWER_OLLAMA = {
    "llama31-tools": "Ollama >= v0.30.0 prints a tool ({{ . }} in range .Tools) as its JSON "
    "(templateTool.String); v0.17.4 printed the Go struct",
}


def _values(v: dict[str, Any]) -> Values:
    return Values(
        messages=v.get("messages") or [], tools=v.get("tools"), prompt=v.get("prompt", ""),
        suffix=v.get("suffix", ""), think=v.get("think", False),
        think_level=v.get("think_level", ""), is_think_set=v.get("is_think_set", False),
    )  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=NEWER_OLLAMA[c["name"]]))
        if c["name"] in NEWER_OLLAMA
        else c
        for c in GOLDEN
    ],
    ids=[c["name"] for c in GOLDEN],
)
def test_renders_as_ollama_does(case: dict[str, Any]) -> None:
    values = _values(case["values"])
    if "error" in case:
        with pytest.raises(TemplateError):
            parse(case["template"]).execute(values)
        return
    assert parse(case["template"]).execute(values) == case["output"]


def test_a_tool_prints_as_its_json_as_current_ollama() -> None:
    [case] = [c for c in GOLDEN if c["name"] == "llama31-tools"]
    out = parse(case["template"]).execute(_values(case["values"]))
    first, second = (json.loads(line) for line in out.splitlines() if line.startswith('{"type"'))
    assert first["function"]["name"] == "get_weather"
    assert second["function"]["name"] == "now"
    assert '"description":"Get the \\u003ccurrent\\u003e weather \\u0026 more"' in out

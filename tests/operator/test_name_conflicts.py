"""Served-name conflicts between ModelDeployments (issue 13), table-style."""

from __future__ import annotations

import pytest

from pasture_operator.reconcile.name_conflicts import (
    NameConflict,
    name_conflicts,
    normalize,
    served_names,
    summary,
)
from pasture_operator.reconcile.resolve import resolve
from tests.operator.helpers import model

CASES: list[tuple[str, dict[str, list[str]], dict[str, list[NameConflict]]]] = [
    ("no deployments", {}, {}),
    ("distinct names", {"a": ["tiny:latest"], "b": ["big:latest"]}, {}),
    ("one deployment repeating itself is no conflict", {"a": ["tiny", "tiny:latest"]}, {}),
    (
        "bare name means :latest",
        {"a": ["tiny"], "b": ["tiny:latest"]},
        {"a": [NameConflict("tiny:latest", ("b",))], "b": [NameConflict("tiny:latest", ("a",))]},
    ),
    (
        "case and the default registry do not matter",
        {"a": ["Tiny:Q4"], "b": ["registry.ollama.ai/library/tiny:q4"], "c": ["other"]},
        {"a": [NameConflict("tiny:q4", ("b",))], "b": [NameConflict("tiny:q4", ("a",))]},
    ),
    ("different tags are different names", {"a": ["tiny:1b"], "b": ["tiny:3b"]}, {}),
    (
        "three-way, and an alias shared by two",
        {"a": ["m", "alias"], "b": ["m"], "c": ["m", "alias"]},
        {
            "a": [NameConflict("alias:latest", ("c",)), NameConflict("m:latest", ("b", "c"))],
            "b": [NameConflict("m:latest", ("a", "c"))],
            "c": [NameConflict("alias:latest", ("a",)), NameConflict("m:latest", ("a", "b"))],
        },
    ),
    (
        "a host with a port is not a tag",
        {"a": ["host:5000/tiny"], "b": ["host:5000/tiny:latest"]},
        {
            "a": [NameConflict("host:5000/tiny:latest", ("b",))],
            "b": [NameConflict("host:5000/tiny:latest", ("a",))],
        },
    ),
]


@pytest.mark.parametrize(("label", "served", "expected"), CASES, ids=[c[0] for c in CASES])
def test_name_conflicts(
    label: str, served: dict[str, list[str]], expected: dict[str, list[NameConflict]]
) -> None:
    assert name_conflicts(served) == expected


def test_summary_names_the_other_deployments() -> None:
    found = name_conflicts({"a": ["m"], "b": ["m"], "c": ["m"]})
    assert summary(found["a"]) == (
        "served name 'm:latest' is also served by ModelDeployment 'b', "
        "ModelDeployment 'c'; the gateway refuses it"
    )


@pytest.mark.parametrize(
    "name", ["tiny", "Tiny:Q4", "library/tiny", "host:5000/ns/m", "registry.ollama.ai/library/x:1"]
)
def test_normalize_matches_the_runtime(name: str) -> None:
    from pasture_runtime.names import normalize as runtime_normalize

    assert normalize(name) == runtime_normalize(name)


def test_served_names_include_aliases() -> None:
    spec = {"source": {"huggingFace": {"repo": "org/tiny"}}, "aliases": ["small:latest", "t"]}
    resolved = resolve(model("tiny", spec))
    assert served_names([resolved]) == [resolved.served_name, "small:latest", "t"]


def test_status_served_names_list_aliases_for_the_gateway() -> None:
    """GATEWAY-CONTRACT item 1: the gateway routes by status.servedNames, aliases included."""
    from pasture_operator.reconcile.deployment_plan import (
        ChildDefaults,
        DeploymentObserved,
        plan_deployment,
    )
    from tests.operator.helpers import md

    spec = {"source": {"huggingFace": {"repo": "org/tiny"}}, "aliases": ["small"]}
    obs = DeploymentObserved(models={"tiny": model("tiny", spec)}, children={})
    p = plan_deployment(md(), obs, ChildDefaults("runtime:test"), "2026-01-01T00:00:00Z")
    assert p.status["servedNames"][1:] == ["small"]

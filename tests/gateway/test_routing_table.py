"""The routing table (pure): names as the runtime matches them, ready pods
only, conflicts never resolved silently."""

from __future__ import annotations

import pytest

from pasture_gateway.routing.names import display_name, normalize
from pasture_gateway.routing.objects import parse_model
from pasture_gateway.routing.table import Conflict, Found, NotFound, build_table
from tests.gateway.objects import md, model, pod


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("tiny", "tiny:latest"),
        ("Tiny", "tiny:latest"),
        ("tiny:latest", "tiny:latest"),
        ("tiny:Q4", "tiny:q4"),
        ("library/tiny", "tiny:latest"),
        ("registry.ollama.ai/library/tiny:1b", "tiny:1b"),
        ("host:5000/org/tiny", "host:5000/org/tiny:latest"),
        ("  tiny  ", "tiny:latest"),
    ],
)
def test_names_normalise_as_the_runtime_does(name: str, key: str) -> None:
    from pasture_runtime.names import normalize as runtime_normalize

    assert normalize(name) == key == runtime_normalize(name)


def test_display_name_adds_the_default_tag() -> None:
    assert display_name("Tiny") == "Tiny:latest"
    assert display_name("host:5000/tiny") == "host:5000/tiny:latest"


def test_names_route_to_their_deployment_with_ready_pods_only() -> None:
    table = build_table(
        [model("tiny"), model("big")],
        [md("tiny"), md("big", served=("big:latest", "big:q4"))],
        [
            pod("tiny-a", ip="10.0.0.1"),
            pod("tiny-b", ip="10.0.0.2", ready=False),
            pod("tiny-c", ip="10.0.0.3", deleting=True),
            pod("tiny-d", ip=None),
            pod("tiny-e", ip="10.0.0.5", phase="Pending"),
            pod("big-a", deployment="big", ip="10.0.1.1"),
        ],
    )
    found = table.resolve("TINY")
    assert isinstance(found, Found)
    assert [e.address for e in found.deployment.ready] == ["10.0.0.1:11434"]
    big = table.resolve("big:q4")
    assert isinstance(big, Found)
    assert big.deployment.name == "big"
    assert isinstance(table.resolve("nope"), NotFound)
    assert isinstance(table.resolve(""), NotFound)


def test_a_deployment_at_zero_is_routable_with_no_endpoints() -> None:
    table = build_table([model()], [md(replicas=0)], [])
    found = table.resolve("tiny")
    assert isinstance(found, Found)
    assert found.deployment.replicas == 0
    assert found.deployment.ready == ()


def test_model_aliases_are_served_by_the_deployment() -> None:
    table = build_table([model(aliases=["tiny-chat"])], [md()], [])
    assert isinstance(table.resolve("tiny-chat"), Found)
    assert table.names_of(table.deployments["ns/tiny"]) == ("tiny:latest", "tiny-chat")


def test_a_name_served_twice_is_a_conflict_naming_both() -> None:
    table = build_table(
        [model("a"), model("b")],
        [md("a", served=("shared:latest",)), md("b", served=("Shared",))],
        [],
    )
    out = table.resolve("shared")
    assert isinstance(out, Conflict)
    assert [d.key for d in out.deployments] == ["ns/a", "ns/b"]


def test_same_name_in_two_namespaces_is_a_conflict() -> None:
    table = build_table([], [md("a", ns="x"), md("a", ns="y")], [])
    assert isinstance(table.resolve("tiny"), Conflict)


def test_pods_of_another_namespace_do_not_count() -> None:
    table = build_table([], [md("tiny", ns="x")], [pod("p", ns="y")])
    found = table.resolve("tiny")
    assert isinstance(found, Found)
    assert found.deployment.ready == ()


def test_strategy_defaults_to_prefix_hash_and_rejects_unknown() -> None:
    table = build_table(
        [],
        [
            md("a", served=("a",)),
            md("b", served=("b",), routing={"strategy": "leastLoad"}),
            md("c", served=("c",), routing={"strategy": "bogus"}),
        ],
        [],
    )
    assert [table.deployments[f"ns/{n}"].strategy for n in "abc"] == [
        "prefixHash", "leastLoad", "prefixHash",
    ]  # fmt: skip


def test_a_multinode_group_is_reached_through_its_leader_only() -> None:
    """LeaderWorkerSet workers carry the deployment label too, but serve no API."""
    leader = pod("tiny-group-0", ip="10.0.0.1")
    leader["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/worker-index"] = "0"
    worker = pod("tiny-group-0-1", ip="10.0.0.2")
    worker["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/worker-index"] = "1"
    table = build_table([], [md("tiny")], [leader, worker])
    found = table.resolve("tiny")
    assert isinstance(found, Found)
    assert [e.address for e in found.deployment.ready] == ["10.0.0.1:11434"]


def test_the_effective_kind_in_status_wins_over_an_unset_spec_kind() -> None:
    """A library Model's kind comes from the catalog: the operator publishes it in
    status.kind, so an embedding model pulled by name is listed as one."""
    pulled = model("nomic")
    pulled["status"]["kind"] = "embedding"
    assert parse_model(pulled).kind == "embedding"
    assert parse_model(model("plain")).kind == "generation"
    assert parse_model(model("set", kind="embedding")).kind == "embedding"

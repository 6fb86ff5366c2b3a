"""Error shapes and cluster listings (pure)."""

from __future__ import annotations

import json

from pasture_gateway.protocol import errors, listing
from pasture_gateway.routing.objects import parse_deployment
from pasture_gateway.routing.table import build_table
from tests.gateway.objects import md, model, pod


def test_unknown_model_texts_are_ollamas() -> None:
    body = json.loads(errors.not_found("/api/chat", "nope").body("/api/chat"))
    assert body == {"error": "model 'nope' not found"}
    embed = errors.not_found("/api/embed", "nope")
    assert json.loads(embed.body("/api/embed")) == {
        "error": 'model "nope" not found, try pulling it first'
    }
    show = errors.not_found("/api/show", "nope")
    assert json.loads(show.body("/api/show")) == {"error": "model 'nope:latest' not found"}


def test_openai_routes_get_openais_error_object() -> None:
    reply = errors.not_found("/v1/chat/completions", "nope")
    body = json.loads(reply.body("/v1/chat/completions"))
    assert reply.status == 404
    assert body["error"]["type"] == "not_found_error"
    assert body["error"]["code"] == "model_not_found"
    assert "nope" in body["error"]["message"]


def test_conflict_names_both_deployments() -> None:
    d1, d2 = parse_deployment(md("a")), parse_deployment(md("b"))
    reply = errors.conflict("tiny", [d1, d2])
    assert reply.status == 409
    assert "ns/a" in reply.message
    assert "ns/b" in reply.message


def test_hold_timeout_names_the_condition() -> None:
    raw = md("tiny", replicas=1)
    raw["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available"},
    ]  # fmt: skip
    reply = errors.hold_timeout("tiny", parse_deployment(raw), 30)
    assert reply.status == 503
    assert reply.message == (
        'model "tiny" is starting: 0/1 replicas ready (Unschedulable: 0/3 nodes are available)'
    )
    assert ("Retry-After", "30") in reply.headers


def test_tags_list_every_routable_model_including_scaled_to_zero() -> None:
    table = build_table(
        [model("tiny"), model("idle")],
        [md("tiny"), md("idle", served=("idle:latest",), replicas=0)],
        [pod("t1")],
    )
    names = [m["name"] for m in listing.tags(table)["models"]]
    assert names == ["idle:latest", "tiny:latest"]
    entry = listing.tags(table)["models"][0]
    assert entry["size"] == 1234
    assert len(entry["digest"]) == 64
    assert entry["details"]["format"] == "safetensors"


def test_ps_lists_only_models_with_ready_replicas() -> None:
    table = build_table(
        [model("tiny"), model("idle")],
        [md("tiny", autoscaling={"idleTimeout": "10m"}), md("idle", served=("idle",))],
        [pod("t1"), pod("t2", ip="10.0.0.2")],
    )
    out = listing.ps(table, {"ns/tiny": 0.0}, now=100.0)["models"]
    assert [m["name"] for m in out] == ["tiny:latest"]
    assert out[0]["replicas"] == 2
    assert out[0]["expires_at"].startswith("1970-01-01T00:10:00")


def test_openai_models_list() -> None:
    table = build_table([model("tiny")], [md("tiny")], [])
    data = listing.openai_models(table)["data"]
    assert [d["id"] for d in data] == ["tiny:latest"]
    assert data[0]["object"] == "model"
    assert data[0]["created"] > 0


def test_show_from_the_model_resource() -> None:
    table = build_table([model("tiny", system="be terse", parameters={"stop": ["</s>"]})],
                        [md("tiny")], [])  # fmt: skip
    facts = table.model_of(table.deployments["ns/tiny"])
    body = listing.show_from_model("tiny", facts)
    assert body["system"] == "be terse"
    assert "PARAMETER stop </s>" in body["modelfile"]
    assert body["capabilities"] == ["completion"]


def test_tags_take_a_replicas_own_figures_when_seen() -> None:
    table = build_table([model("tiny")], [md("tiny")], [])
    runtime_entry = {
        "name": "tiny:latest", "size": 99, "digest": "d" * 64,
        "details": {"family": "llama"}, "modified_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    entry = listing.tags(table, {"ns/tiny": {"tiny:latest": runtime_entry}})["models"][0]
    assert (entry["size"], entry["digest"], entry["details"]) == (99, "d" * 64, {"family": "llama"})
    assert entry["name"] == "tiny:latest"

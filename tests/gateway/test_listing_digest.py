"""The cluster listings report a Model's weights digest (status.digest, written
from the download's manifest) as Ollama shows digests: 64 hex, no `sha256:`. Pure."""

from __future__ import annotations

from pasture_gateway.protocol import listing
from pasture_gateway.routing.table import build_table
from tests.gateway.objects import md, model

HEX = "ab" * 32


def _with_digest(digest: str | None) -> dict[str, object]:
    body = model("tiny")
    if digest is not None:
        body["status"]["digest"] = digest  # type: ignore[index]
    return body


def test_tags_and_show_report_the_models_status_digest() -> None:
    table = build_table([_with_digest(f"sha256:{HEX}")], [md("tiny", replicas=0)], [])
    assert listing.tags(table)["models"][0]["digest"] == HEX
    facts = table.model_of(table.deployments["ns/tiny"])
    assert listing.show_from_model("tiny", facts)["digest"] == HEX


def test_without_a_status_digest_the_listing_keeps_a_stable_version_hash() -> None:
    table = build_table([_with_digest(None)], [md("tiny", replicas=0)], [])
    entry = listing.tags(table)["models"][0]
    assert len(entry["digest"]) == 64
    assert entry["digest"] != HEX
    facts = table.model_of(table.deployments["ns/tiny"])
    assert "digest" not in listing.show_from_model("tiny", facts)  # nothing to report

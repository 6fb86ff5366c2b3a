"""Demand annotations (contract item 4), pure: what is written and when."""

from __future__ import annotations

from pasture_gateway.routing.signals import demand_annotations, rfc3339, should_write


def test_annotation_values() -> None:
    assert rfc3339(1795867200.9) == "2026-11-28T12:00:00Z"
    assert demand_annotations(1795867200, None) == {
        "pasture.dev/last-request": "2026-11-28T12:00:00Z"
    }
    assert demand_annotations(1795867200, -1)["pasture.dev/keep-alive"] == "-1"
    assert demand_annotations(1795867200, 0)["pasture.dev/keep-alive"] == "0"


def test_writes_are_throttled_unless_urgent_or_keep_alive_changed() -> None:
    assert should_write(100.0, None, urgent=False, keep_alive_changed=False)
    assert not should_write(105.0, 100.0, urgent=False, keep_alive_changed=False)
    assert should_write(110.0, 100.0, urgent=False, keep_alive_changed=False)
    assert should_write(101.0, 100.0, urgent=True, keep_alive_changed=False)
    assert should_write(101.0, 100.0, urgent=False, keep_alive_changed=True)

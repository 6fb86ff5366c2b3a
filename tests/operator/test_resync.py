"""Item 11: which stored objects a re-list proves gone (kube/resync.py), table-style."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.kube.resync import WATCHED, stale
from pasture_operator.kube.store import Store


def obj(name: str, rv: int, ns: str = "a") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv), "uid": name}}


def store_of(*bodies: dict[str, Any]) -> Store:
    s = Store()
    for b in bodies:
        s.put("Service", b)
    return s


@pytest.mark.parametrize(
    ("stored", "namespace", "listed", "list_rv", "gone"),
    [
        # Listed: kept.
        ([obj("x", 5)], "a", ["a/x"], 10, []),
        # Not listed, older than the list: gone during the gap.
        ([obj("x", 5)], "a", [], 10, ["x"]),
        # Not listed but newer than the list (its event overtook our list): kept.
        ([obj("x", 15)], "a", [], 10, []),
        # Another namespace is not this list's business.
        ([obj("x", 5, ns="b")], "a", [], 10, []),
        # A cluster-wide list covers every namespace.
        ([obj("x", 5, ns="b"), obj("y", 6)], None, ["a/y"], 10, ["x"]),
        # An opaque (non-integer) list version proves nothing.
        ([obj("x", 5)], "a", [], 0, []),
    ],
)
def test_stale(
    stored: list[dict[str, Any]],
    namespace: str | None,
    listed: list[str],
    list_rv: int,
    gone: list[str],
) -> None:
    found = stale(store_of(*stored), "Service", namespace, listed, list_rv)
    assert [b["metadata"]["name"] for b in found] == gone


def test_watched_kinds_match_the_kopf_handlers() -> None:
    """Every kind main.py watches is re-listed, with the same label selector."""
    import kopf

    from pasture_operator import main  # noqa: F401  (registers the handlers)

    registry = kopf.get_default_registry()
    handlers = registry._watching.get_all_handlers()  # kopf 1.45's registry layout
    watched = {
        (h.selector.any_name, ",".join(f"{k}={v}" for k, v in (h.labels or {}).items()) or None)
        for h in handlers
        if h.selector is not None
    }
    from pasture_operator.kube.client import PLURALS

    ours = {(PLURALS[w.kind][0], w.label_selector) for w in WATCHED}
    assert ours == watched

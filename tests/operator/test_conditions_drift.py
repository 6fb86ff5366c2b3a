from __future__ import annotations

from pasture_operator.reconcile import conditions
from pasture_operator.reconcile.conditions import Condition
from pasture_operator.reconcile.drift import contains, needs_apply


def test_transition_time_kept_while_status_unchanged() -> None:
    first = conditions.merge(None, [Condition("Ready", "False", "Starting", "0/1")], 1, "T1")
    second = conditions.merge(first, [Condition("Ready", "False", "Unschedulable", "no")], 2, "T2")
    assert second[0]["lastTransitionTime"] == "T1"
    assert second[0]["reason"] == "Unschedulable"
    assert second[0]["observedGeneration"] == 2
    third = conditions.merge(second, [Condition("Ready", "True", "Available", "1/1")], 2, "T3")
    assert third[0]["lastTransitionTime"] == "T3"


def test_contains_ignores_server_added_fields() -> None:
    desired = {"spec": {"replicas": 1, "ports": [{"port": 80}]}, "metadata": {"labels": {"a": "b"}}}
    observed = {
        "spec": {
            "replicas": 1,
            "ports": [{"port": 80, "protocol": "TCP"}],
            "clusterIP": "10.0.0.1",
        },
        "metadata": {"labels": {"a": "b", "extra": "x"}, "uid": "u"},
    }
    assert contains(observed, desired)
    assert not needs_apply(desired, observed)


def test_contains_detects_changes_and_removals() -> None:
    desired = {"spec": {"replicas": 2, "ports": [{"port": 80}]}}
    assert not contains({"spec": {"replicas": 3, "ports": [{"port": 80}]}}, desired)
    assert not contains({"spec": {"replicas": 2, "ports": []}}, desired)
    assert not contains({"spec": {"replicas": 2}}, desired)
    assert needs_apply(desired, None)
    assert not contains({"a": 1}, {"a": True})

"""The chart's management values (docs/cli.md): off by default (no write RBAC,
the gateway answers 403); on, the gateway may create, patch and delete only
Models and ModelDeployments, and create Events, only where it serves."""

from __future__ import annotations

from tests.chart.helpers import render
from tests.chart.test_chart_gateway import GATEWAY_RULES, container, gateway, rules, served

MANAGE_RULES = {
    ("pasture.dev", "models", "create"), ("pasture.dev", "models", "patch"),
    ("pasture.dev", "models", "delete"), ("pasture.dev", "modeldeployments", "create"),
    ("pasture.dev", "modeldeployments", "delete"), ("", "events", "create"),
}  # fmt: skip


def test_management_is_off_by_default() -> None:
    objs = render()
    (role,) = gateway(objs, "ClusterRole")
    assert rules(role) == GATEWAY_RULES
    assert "--no-management" in container(objs)["args"]


def test_management_on_adds_only_model_writes_where_it_serves() -> None:
    objs = render(
        "--set", "gateway.management.enabled=true", "--set", "gateway.namespaces={team-a}",
        "--set", "gateway.management.cacheSize=5Gi", "--set", "gateway.management.gpuProfile=l4",
    )  # fmt: skip
    assert not gateway(objs, "ClusterRole")
    (role,) = served(objs, "Role")  # beside its own -peers Role
    assert role["metadata"]["namespace"] == "team-a"
    assert rules(role) == GATEWAY_RULES | MANAGE_RULES
    args = container(objs)["args"]
    assert "--no-management" not in args
    assert "--manage-anonymous" not in args
    assert "--manage-cache-size=5Gi" in args
    assert "--manage-gpu-profile=l4" in args
    assert "--manage-idle-timeout=5m" in args


def test_anonymous_management_is_a_separate_choice() -> None:
    objs = render(
        "--set", "gateway.management.enabled=true",
        "--set", "gateway.management.allowAnonymous=true",
    )  # fmt: skip
    assert "--manage-anonymous" in container(objs)["args"]

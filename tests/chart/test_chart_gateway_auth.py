"""The chart's gateway API-key wiring (issue 13, Auth): `gateway.apiKeys.secretName`
mounts the runtimes' key Secret and passes `--api-keys-file`; `upstreamSecretName`
mounts the internal key and passes `--upstream-key-file`. Without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helpers import CHART, helm, render
from tests.chart.test_chart_gateway import container, gateway


def pod_spec(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = gateway(objs, "Deployment")
    return dict(dep["spec"]["template"]["spec"])


def key_args(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith(("--api-keys-file", "--upstream-key-file"))]


def test_no_keys_by_default() -> None:
    objs = render()
    c = container(objs)
    assert key_args(c["args"]) == []
    assert [m["name"] for m in c["volumeMounts"]] == ["tmp"]
    assert [v["name"] for v in pod_spec(objs)["volumes"]] == ["tmp"]


def test_api_keys_secret_is_mounted_and_passed() -> None:
    objs = render("--set", "gateway.apiKeys.secretName=runtime-keys")
    c = container(objs)
    assert key_args(c["args"]) == ["--api-keys-file=/etc/pasture/api-keys/api-key"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "api-keys")
    # The whole Secret (no subPath), so a rotated key reaches the file the gateway re-reads.
    assert mount == {"name": "api-keys", "mountPath": "/etc/pasture/api-keys", "readOnly": True}
    volume = next(v for v in pod_spec(objs)["volumes"] if v["name"] == "api-keys")
    assert volume == {"name": "api-keys", "secret": {"secretName": "runtime-keys"}}


def test_upstream_key_with_its_own_secret_and_key() -> None:
    objs = render(
        "--set", "gateway.apiKeys.secretName=runtime-keys",
        "--set", "gateway.apiKeys.key=keys.txt",
        "--set", "gateway.apiKeys.upstreamSecretName=gateway-internal",
        "--set", "gateway.apiKeys.upstreamKey=token",
    )  # fmt: skip
    c = container(objs)
    assert key_args(c["args"]) == [
        "--api-keys-file=/etc/pasture/api-keys/keys.txt",
        "--upstream-key-file=/etc/pasture/upstream-key/token",
    ]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["upstream-key"] == {
        "name": "upstream-key",
        "mountPath": "/etc/pasture/upstream-key",
        "readOnly": True,
    }
    volumes = {v["name"]: v for v in pod_spec(objs)["volumes"]}
    assert volumes["upstream-key"]["secret"] == {"secretName": "gateway-internal"}
    assert volumes["api-keys"]["secret"] == {"secretName": "runtime-keys"}
    # The root filesystem stays read-only; the keys come only from the mounts.
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_upstream_key_alone() -> None:
    objs = render("--set", "gateway.apiKeys.upstreamSecretName=gateway-internal")
    c = container(objs)
    assert key_args(c["args"]) == ["--upstream-key-file=/etc/pasture/upstream-key/api-key"]
    assert "api-keys" not in {v["name"] for v in pod_spec(objs)["volumes"]}


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("gateway.apiKeys.secretName=Bad_Name", "/gateway/apiKeys/secretName"),
        ("gateway.apiKeys.key=a/b", "/gateway/apiKeys/key"),
        ("gateway.apiKeys.bogus=1", "bogus"),
    ],
)
def test_api_keys_values_schema(flag: str, message: str) -> None:
    out = helm("template", "x", str(CHART), "--set", flag, check=False)
    assert out.returncode != 0, out.stderr
    assert "schema" in out.stderr, out.stderr
    assert message in out.stderr, out.stderr

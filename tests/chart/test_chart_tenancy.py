"""The chart's key Secret in the key-file format of docs/tenancy.md:
`gateway.apiKeys.entries`/`tenants` make the gateway's Secret (identities with
each key's sha256), a named Secret still wins, and `gateway.audit`. Without a
cluster."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from pasture_access.keyfile import parse
from tests.chart.helpers import CHART, helm, render
from tests.chart.test_chart_gateway import container, gateway

DIGEST = hashlib.sha256(b"sk-ci").hexdigest()
ENTRIES = [
    {"id": "ci-bot", "sha256": DIGEST, "tenant": "team-a", "scopes": ["infer"],
     "models": ["llama3*"], "limits": {"requestsPerMinute": 60}},
]  # fmt: skip


def values(tmp: Path, doc: Mapping[str, object]) -> list[str]:
    path = f"{tmp}/values.json"
    with open(path, "w") as f:
        json.dump(doc, f)
    return ["-f", path]


def test_entries_make_the_gateways_key_secret(tmp_path: Path) -> None:
    doc = {"gateway": {"apiKeys": {"entries": ENTRIES, "tenants": {"team-a": {"priority": 2}}}}}
    objs = render(*values(tmp_path, doc))
    (secret,) = [o for o in gateway(objs, "Secret")]
    assert secret["metadata"]["name"] == "pasture-gateway-keys"
    book = parse(secret["stringData"]["api-key"])  # the gateway's own parser reads it
    [(digest, ident)] = book.entries
    assert (digest.decode(), ident.key_id, ident.tenant, ident.models) == (
        DIGEST, "ci-bot", "team-a", ("llama3*",),
    )  # fmt: skip
    assert ident.tenant_limits.priority == 2
    c = container(objs)
    assert "--api-keys-file=/etc/pasture/api-keys/api-key" in c["args"]
    (dep,) = gateway(objs, "Deployment")
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"] == {"secretName": "pasture-gateway-keys"}


def test_a_named_secret_wins_and_plain_values_keep_working(tmp_path: Path) -> None:
    doc = {"gateway": {"apiKeys": {"secretName": "mine", "entries": ENTRIES}}}
    objs = render(*values(tmp_path, doc))
    assert gateway(objs, "Secret") == []
    (dep,) = gateway(objs, "Deployment")
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"] == {"secretName": "mine"}
    assert "--no-audit" not in container(objs)["args"]
    assert "--no-audit" in container(render("--set", "gateway.audit=false"))["args"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "a", "sha256": "short"}, "sha256"),
        ({"id": "a", "sha256": DIGEST, "scopes": ["root"]}, "scopes"),
        ({"id": "a", "sha256": DIGEST, "key": "sk-plain"}, "key"),
        ({"sha256": DIGEST}, "id"),
    ],
)
def test_entries_schema(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    args = values(tmp_path, {"gateway": {"apiKeys": {"entries": [entry]}}})
    out: subprocess.CompletedProcess[str] = helm("template", "x", str(CHART), *args, check=False)
    assert out.returncode != 0, out.stderr
    assert message in out.stderr, out.stderr


def test_rendered_key_file_is_yaml_of_identities(tmp_path: Path) -> None:
    objs = render(*values(tmp_path, {"gateway": {"apiKeys": {"entries": ENTRIES}}}))
    (secret,) = gateway(objs, "Secret")
    doc = yaml.safe_load(secret["stringData"]["api-key"])
    assert doc == {"keys": ENTRIES, "tenants": {}}

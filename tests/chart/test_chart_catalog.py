"""The chart ships the library catalog: the packaged file's copy and the
release's catalog.extraEntries / catalog.hfTokenSecret in the `-catalog`
ConfigMap, mounted into the operator with PASTURE_CATALOG_FILE naming both,
and a checksum that rolls the operator when either changes."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from pasture_operator import catalog
from pasture_operator.catalog_entry import CatalogError
from tests.chart.helpers import CHART, helm, render
from tests.fixtures.cluster import ROOT

MOUNT = "/etc/pasture/catalog"


def catalog_configmap(objs: list[dict[str, Any]]) -> dict[str, str]:
    (cm,) = [
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-catalog")
    ]
    data: dict[str, str] = cm["data"]
    return data


def operator_pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = [
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-operator")
    ]
    template: dict[str, Any] = dep["spec"]["template"]
    return template


def loaded(data: dict[str, str]) -> dict[str, catalog.CatalogEntry]:
    """What the operator loads from the ConfigMap's files, in PASTURE_CATALOG_FILE's order."""
    return catalog.parse_documents(
        [(f"{MOUNT}/{k}", data[k]) for k in ("catalog.yaml", "extra.yaml")]
    )


def test_chart_catalog_copy_identical() -> None:
    out = subprocess.run(
        [str(ROOT / "hack" / "sync-chart-catalog"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (CHART / "files" / "catalog.yaml").read_bytes() == catalog.DEFAULT_FILE.read_bytes()


def test_the_configmap_carries_the_shipped_catalog_mounted_into_the_operator() -> None:
    objs = render()
    data = catalog_configmap(objs)
    assert data["catalog.yaml"] == catalog.DEFAULT_FILE.read_text()
    assert yaml.safe_load(data["extra.yaml"]) == {"entries": {}}
    assert loaded(data) == catalog.parse(catalog.DEFAULT_FILE.read_text())
    pod = operator_pod(objs)
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PASTURE_CATALOG_FILE"] == f"{MOUNT}/catalog.yaml:{MOUNT}/extra.yaml"
    assert {"name": "catalog", "mountPath": MOUNT, "readOnly": True} in container["volumeMounts"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "catalog"]
    assert volume["configMap"]["name"] == "pasture-catalog"


def test_extra_entries_and_the_token_secret_reach_the_operator_and_roll_it() -> None:
    extra = {
        "mine:7b": {"source": {"huggingFace": {"repo": "org/mine-AWQ"}}, "toolParser": "hermes"}
    }
    extra["qwen2.5:latest"] = {"source": {"huggingFace": {"repo": "org/own-qwen"}}}
    objs = render(
        "--set-json",
        f"catalog.extraEntries={json.dumps(extra)}",
        "--set",
        "catalog.hfTokenSecret.name=hf-token",
    )
    entries = loaded(catalog_configmap(objs))
    assert entries["mine:7b"].tool_parser == "hermes"
    assert entries["qwen2.5:latest"].repo == "org/own-qwen"  # an extra entry replaces a shipped one
    assert entries["llama3.2:1b"].token_secret == {"name": "hf-token", "key": "token"}
    assert entries["qwen3:latest"].token_secret is None  # not gated
    before = operator_pod(render())["metadata"]["annotations"]["checksum/catalog"]
    assert operator_pod(objs)["metadata"]["annotations"]["checksum/catalog"] != before


def test_a_bad_extra_entry_is_refused_by_the_operators_loader_with_its_name() -> None:
    bad = {"mine:7b": {"source": {"huggingFace": {"repo": "org/mine"}}, "toolParser": "hermez"}}
    data = catalog_configmap(render("--set-json", f"catalog.extraEntries={json.dumps(bad)}"))
    with pytest.raises(CatalogError) as err:
        loaded(data)
    assert str(err.value).startswith(f"{MOUNT}/extra.yaml: catalog entry 'mine:7b': toolParser")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set-json", 'catalog.extraEntries={"m:1b":{"kind":"embedding"}}'), "source"),
        (("--set", "catalog.hfTokenSecret.nam=x"), "nam"),
        (("--set", "catalog.bogus=1"), "bogus"),
    ],
)
def test_values_schema_rejects_bad_catalog_values(args: tuple[str, str], message: str) -> None:
    out = helm("template", "x", str(CHART), *args, check=False)
    assert out.returncode != 0
    assert "schema" in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


def test_lint_strict_with_catalog_values() -> None:
    extra = {"mine:7b": {"source": {"url": {"url": "https://example.com/m.tar"}}}}
    helm(
        "lint",
        "--strict",
        str(CHART),
        "--set-json",
        f"catalog.extraEntries={json.dumps(extra)}",
        "--set",
        "catalog.hfTokenSecret.name=hf",
    )

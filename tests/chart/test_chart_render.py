"""The chart without a cluster: lint, values schema, CRD copies, RBAC shape,
operator arguments, alert and dashboard rendering."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pasture_operator.gpu_profiles import GpuProfile, load_profiles
from tests.chart.helpers import CHART, helm, render
from tests.fixtures.cluster import ROOT


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The operator side's objects of `kind` (the gateway's: test_chart_gateway.py)."""
    return [o for o in objs if o["kind"] == kind and not _gateway(o)]


def _gateway(obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get("app.kubernetes.io/component") == "gateway")


def operator_args(objs: list[dict[str, Any]]) -> list[str]:
    (dep,) = by_kind(objs, "Deployment")
    args: list[str] = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_lint_strict() -> None:
    out = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in out.stdout


def test_lint_strict_with_every_option() -> None:
    helm(
        "lint",
        "--strict",
        str(CHART),
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.dashboards.enabled=true",
        "--set",
        "operator.replicas=2",
        "--set",
        "operator.watchNamespaces={a,b}",
    )


def test_chart_versions() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"]
    assert chart["appVersion"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["operator"]["image"]["tag"] == ""  # defaults to appVersion
    objs = render()
    image = by_kind(objs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"ghcr.io/pasture-dev/pasture-operator:{chart['appVersion']}"
    assert (
        f"--default-image=ghcr.io/pasture-dev/pasture-runtime:{chart['appVersion']}"
        in operator_args(objs)
    )


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("operator.replicas=two", "/operator/replicas"),
        ("crds.enabled=yes", "/crds/enabled"),
        ("operator.logLevel=trace", "/operator/logLevel"),
        ("operator.metricsPort=70000", "/operator/metricsPort"),
        ("operator.bogus=1", "bogus"),
        ("metrics.prometheusRule.thresholds.PastureTTFTP95High=slow", "PastureTTFTP95High"),
        ("gpuProfiles.big.gpus=many", "/gpuProfiles/big"),
        ("gpuProfiles.big.resourceName=GPU", "/gpuProfiles/big/resourceName"),
        ("gpuProfiles.Big.resourceName=nvidia.com/gpu", "Big"),
        ("gpuProfiles.big.gpus=65", "/gpuProfiles/big/gpus"),
        ("gpuProfiles.big.tolerations[0].operater=Exists", "operater"),
    ],
)
def test_values_schema_rejects_bad_values(flag: str, message: str) -> None:
    out = helm("template", "x", str(CHART), "--set", flag, check=False)
    assert out.returncode != 0
    assert "schema" in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


def test_values_documented_field_by_field() -> None:
    """Every field of the chart's own (indent <= 4) has a comment line right above it;
    deeper levels are Kubernetes-typed values (securityContext, resources, profile
    bodies) documented by the field that holds them."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    section = ""
    kube_typed = {"podSecurityContext:", "securityContext:", "resources:"}
    for i, line in enumerate(lines):
        s = line.strip()
        indent = len(line) - len(line.lstrip())
        if not s or s.startswith(("#", "-")) or ":" not in s or indent > 4:
            continue
        key, _, rest = s.partition(":")
        if indent == 0:
            section = key
        is_section = (
            rest.strip() == "" and i + 1 < len(lines) and not lines[i + 1].strip().startswith("-")
        )
        if is_section or (section == "gpuProfiles" and indent > 0):
            continue
        parent = next(
            (
                lines[j].strip()
                for j in range(i - 1, -1, -1)
                if lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) < indent
            ),
            "",
        )
        if parent in kube_typed:
            continue
        if not lines[i - 1].strip().startswith("#"):
            undocumented.append(f"{section}.{key}" if indent else key)
    assert not undocumented, f"values without a comment: {undocumented}"


def test_crd_copies_identical() -> None:
    out = subprocess.run(
        [str(ROOT / "hack" / "sync-chart-crds"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    src = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert src == sorted(p.name for p in (CHART / "files" / "crds").glob("*.yaml"))


def _strip_chart_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    crd = json.loads(json.dumps(crd))
    meta = crd["metadata"]
    meta.pop("labels", None)
    (meta.get("annotations") or {}).pop("helm.sh/resource-policy", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    return crd


def test_rendered_crds_equal_source() -> None:
    """What the chart installs is crds/ exactly, plus the chart's labels and keep annotation."""
    source = {
        d["metadata"]["name"]: d
        for p in sorted((ROOT / "crds").glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if d
    }
    rendered = {c["metadata"]["name"]: c for c in by_kind(render(), "CustomResourceDefinition")}
    assert rendered.keys() == source.keys()
    for name, crd in rendered.items():
        assert _strip_chart_metadata(crd) == source[name], name
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_crd_switches() -> None:
    assert not by_kind(render("--set", "crds.enabled=false"), "CustomResourceDefinition")
    unkept = by_kind(render("--set", "crds.keep=false"), "CustomResourceDefinition")
    assert unkept
    assert all(
        "helm.sh/resource-policy" not in (c["metadata"].get("annotations") or {}) for c in unkept
    )


@pytest.mark.parametrize("extra", [[], ["--set", "operator.watchNamespaces={team-a,team-b}"]])
def test_rbac_has_no_wildcards(extra: list[str]) -> None:
    objs = render(*extra)
    roles = by_kind(objs, "ClusterRole") + by_kind(objs, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
                assert not any("*" in v for v in rule.get(field, [])), rule
            assert "nonResourceURLs" not in rule
            assert not ({"escalate", "bind", "impersonate"} & set(rule["verbs"])), rule
            # Secrets are never readable by the operator.
            assert "secrets" not in rule["resources"], rule


def test_namespaced_rbac_when_namespaces_are_listed() -> None:
    objs = render("--set", "operator.watchNamespaces={team-a,team-b}")
    roles = by_kind(objs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(objs, "RoleBinding")) == [
        "team-a",
        "team-b",
    ]
    (cluster_role,) = by_kind(objs, "ClusterRole")
    cluster_resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert cluster_resources == {"storageclasses", "customresourcedefinitions"}
    args = operator_args(objs)
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args
    assert "--all-namespaces" not in args
    out = helm(
        "template", "x", str(CHART), "--set", "operator.watchNamespaces={team-*}", check=False
    )
    assert out.returncode != 0
    assert "pattern" in out.stderr


def test_leader_election_follows_replicas() -> None:
    one = operator_args(render())
    assert "--standalone" in one
    assert "--all-namespaces" in one
    two = render("--set", "operator.replicas=2", "--set", "operator.peeringName=elect")
    assert "--peering=elect" in operator_args(two)
    assert "--standalone" not in operator_args(two)
    assert by_kind(two, "Deployment")[0]["spec"]["replicas"] == 2


def test_log_level_and_resources() -> None:
    objs = render(
        "--set",
        "operator.logLevel=debug",
        "--set",
        "operator.logFormat=plain",
        "--set",
        "operator.resources.limits.memory=1Gi",
    )
    args = operator_args(objs)
    assert "--verbose" in args
    assert "--log-format=plain" in args
    container = by_kind(objs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "--verbose" not in operator_args(render())


def test_gpu_profiles_and_runtime_image_from_values(tmp_path: Path) -> None:
    objs = render(
        "--set",
        "runtime.image.repository=registry.local/rt",
        "--set",
        "runtime.image.tag=v9",
        "--set",
        "gpuProfiles.amd.resourceName=amd.com/gpu",
        "--set-json",
        'gpuProfiles.amd.tolerations=[{"key":"amd.com/gpu","operator":"Exists"}]',
        "--set",
        "gpuProfiles.amd.nodeSelector.pool=mi300",
    )
    assert "--default-image=registry.local/rt:v9" in operator_args(objs)
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].endswith("profiles")]
    profiles = yaml.safe_load(cm["data"]["profiles.yaml"])
    assert profiles["amd"]["resourceName"] == "amd.com/gpu"
    assert profiles["nvidia"]["resourceName"] == "nvidia.com/gpu"

    # The operator finds the file where PASTURE_GPU_PROFILES says...
    (dep,) = by_kind(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    path = {e["name"]: e.get("value") for e in container["env"]}["PASTURE_GPU_PROFILES"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "gpu-profiles")
    volume = next(v for v in pod["volumes"] if v["name"] == "gpu-profiles")
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    assert path == f"{mount['mountPath']}/profiles.yaml"

    # ...and its loader accepts the rendered content as the values describe it.
    rendered = tmp_path / "profiles.yaml"
    rendered.write_text(cm["data"]["profiles.yaml"])
    loaded = load_profiles(rendered)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["gpuProfiles"]
    assert set(loaded) == {*defaults, "amd"}
    assert loaded["amd"] == GpuProfile(
        name="amd",
        resource_name="amd.com/gpu",
        gpus=1,
        node_selector={"pool": "mi300"},
        tolerations=({"key": "amd.com/gpu", "operator": "Exists"},),
    )
    for name, raw in defaults.items():
        p = loaded[name]
        assert (p.resource_name, p.gpus, dict(p.node_selector), list(p.tolerations)) == (
            raw["resourceName"],
            raw["gpus"],
            raw["nodeSelector"],
            raw["tolerations"],
        )


def test_no_gpu_profiles_load_as_none(tmp_path: Path) -> None:
    objs = render("--set", "gpuProfiles=null")  # drops the default profiles
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].endswith("profiles")]
    rendered = tmp_path / "profiles.yaml"
    rendered.write_text(cm["data"]["profiles.yaml"])
    assert load_profiles(rendered) == {}


def test_metrics_service_and_optional_monitoring() -> None:
    plain = render()
    assert not by_kind(plain, "ServiceMonitor")
    assert not by_kind(plain, "PrometheusRule")
    (svc,) = by_kind(plain, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    full = render(
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=kps",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.dashboards.enabled=true",
    )
    (sm,) = by_kind(full, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kps"
    assert sm["spec"]["endpoints"][0]["honorLabels"] is True
    # ... and on every ServiceMonitor the operator makes for a ModelDeployment.
    assert "--servicemonitor-label=release=kps" in operator_args(full)
    dashboards = [c for c in by_kind(full, "ConfigMap") if "dashboard" in c["metadata"]["name"]]
    assert len(dashboards) == len(list((CHART / "dashboards").glob("*.json"))) == 2
    titles = set()
    for cm in dashboards:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, body),) = cm["data"].items()
        assert key.endswith(".json")
        titles.add(json.loads(body)["title"])
    assert titles == {"Pasture / Model serving", "Pasture / Operator"}


def test_prometheusrule_is_the_rules_file_with_overrides() -> None:
    source = yaml.safe_load((CHART / "alerts" / "pasture-rules.yaml").read_text())
    names = [r["alert"] for g in source["groups"] for r in g["rules"]]
    (rule,) = by_kind(render("--set", "metrics.prometheusRule.enabled=true"), "PrometheusRule")
    assert [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]] == names
    assert rule["spec"]["groups"] == source["groups"]
    (tuned,) = by_kind(
        render(
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set-json",
            "metrics.prometheusRule.thresholds.PastureTTFTP95High=7.5",
            "--set",
            "metrics.prometheusRule.for.PastureModelDeploymentNotReady=30m",
            "--set",
            "metrics.prometheusRule.disabled={PastureKVCacheNearFull}",
            "--set",
            "metrics.prometheusRule.additionalLabels.team=ml",
            "--set",
            "metrics.prometheusRule.runbookBaseUrl=https://wiki.local/pasture",
        ),
        "PrometheusRule",
    )
    rules = {r["alert"]: r for g in tuned["spec"]["groups"] for r in g["rules"]}
    assert "PastureKVCacheNearFull" not in rules
    assert len(rules) == len(names) - 1
    assert rules["PastureTTFTP95High"]["expr"].rstrip().endswith("> 7.5")
    assert rules["PastureModelDeploymentNotReady"]["for"] == "30m"
    assert all(r["labels"]["team"] == "ml" for r in rules.values())
    assert (
        rules["PastureRuntimeStalled"]["annotations"]["runbook_url"]
        == "https://wiki.local/pasture#pastureruntimestalled"
    )


def test_runbook_section_per_alert() -> None:
    source = yaml.safe_load((CHART / "alerts" / "pasture-rules.yaml").read_text())
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    headings = {
        line.lstrip("#").strip().lower() for line in runbooks.splitlines() if line.startswith("## ")
    }
    for g in source["groups"]:
        for r in g["rules"]:
            assert r["alert"].lower() in headings, f"docs/runbooks.md lacks ## {r['alert']}"
            anchor = r["annotations"]["runbook_url"].rsplit("#", 1)[1]
            assert anchor == r["alert"].lower()


def test_notes_template_exists() -> None:
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert "kubectl wait --for=condition=Ready modeldeployment" in notes


def test_hf_mirror_is_passed_to_the_operator() -> None:
    assert not [a for a in operator_args(render()) if a.startswith("--hf-endpoint")]
    args = operator_args(render("--set", "runtime.hfEndpoint=https://hf-mirror.internal"))
    assert "--hf-endpoint=https://hf-mirror.internal" in args

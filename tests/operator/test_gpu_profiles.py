"""GPU profiles: the loader, the merge with a ModelDeployment's spec, the
Deployment built from it, and the plan for a profile the operator lacks (table tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pasture_operator import main, settings
from pasture_operator.builders import configmap as cm
from pasture_operator.builders import deployment as dep
from pasture_operator.gpu_profiles import GpuProfile, GpuProfileError, load_profiles, parse_profiles
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.placement import Placement, placement
from pasture_operator.reconcile.resolve import resolve
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.owner import Owner
from tests.operator.helpers import md, model

GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
DEDICATED = {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}
A100 = GpuProfile(
    name="a100",
    resource_name="nvidia.com/gpu",
    gpus=2,
    node_selector={"gpu": "a100", "zone": "a"},
    tolerations=(GPU_TAINT, DEDICATED),
)
AMD = GpuProfile(name="amd", resource_name="amd.com/gpu", gpus=1)
CPU_POOL = GpuProfile(name="cpu-pool", resource_name="nvidia.com/gpu", gpus=0, tolerations=())

# --- the loader ---------------------------------------------------------------

VALID: list[tuple[str, Any, dict[str, GpuProfile]]] = [
    ("empty document", None, {}),
    ("empty mapping", {}, {}),
    (
        "minimal: gpus default 1",
        {"amd": {"resourceName": "amd.com/gpu"}},
        {"amd": GpuProfile("amd", "amd.com/gpu", 1)},
    ),
    (
        "every field",
        {
            "a100": {
                "resourceName": "nvidia.com/gpu",
                "gpus": 2,
                "nodeSelector": {"gpu": "a100", "zone": "a"},
                "tolerations": [GPU_TAINT, DEDICATED],
            }
        },
        {"a100": A100},
    ),
    (
        "null selector and tolerations",
        {"x": {"resourceName": "nvidia.com/gpu", "gpus": 0, "nodeSelector": None}},
        {"x": GpuProfile("x", "nvidia.com/gpu", 0)},
    ),
    (
        "NoExecute toleration with seconds",
        {
            "x": {
                "resourceName": "nvidia.com/gpu",
                "tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 30}],
            }
        },
        {
            "x": GpuProfile(
                "x",
                "nvidia.com/gpu",
                tolerations=({"key": "k", "effect": "NoExecute", "tolerationSeconds": 30},),
            )
        },
    ),
]


@pytest.mark.parametrize(("label", "doc", "want"), VALID, ids=[v[0] for v in VALID])
def test_parse_valid(label: str, doc: Any, want: dict[str, GpuProfile]) -> None:
    assert parse_profiles(doc) == want


GOOD = {"resourceName": "nvidia.com/gpu"}
INVALID: list[tuple[str, Any, str]] = [
    ("a list", [GOOD], "must map profile names to profiles, got list"),
    ("a string", "nvidia", "must map profile names to profiles, got str"),
    ("upper-case name", {"A100": GOOD}, "profile name 'A100' must be lowercase"),
    ("name with dot", {"a.b": GOOD}, "profile name 'a.b'"),
    ("name too long", {"a" * 64: GOOD}, "at most 63 characters"),
    ("profile not a mapping", {"x": "nvidia.com/gpu"}, "profile 'x' must be a mapping"),
    ("no resourceName", {"x": {"gpus": 1}}, "resourceName is required"),
    ("bad resourceName", {"x": {"resourceName": "GPU"}}, "extended resource name"),
    ("unknown field", {"x": {**GOOD, "gpuCount": 1}}, "unknown field(s) gpuCount"),
    ("gpus a string", {"x": {**GOOD, "gpus": "1"}}, "gpus must be an integer in [0, 64]"),
    ("gpus a bool", {"x": {**GOOD, "gpus": True}}, "gpus must be an integer"),
    ("gpus negative", {"x": {**GOOD, "gpus": -1}}, "gpus must be an integer"),
    ("gpus too many", {"x": {**GOOD, "gpus": 65}}, "gpus must be an integer"),
    ("selector list", {"x": {**GOOD, "nodeSelector": ["a"]}}, "nodeSelector must map"),
    ("selector bool value", {"x": {**GOOD, "nodeSelector": {"a": True}}}, "nodeSelector must"),
    ("tolerations a map", {"x": {**GOOD, "tolerations": GPU_TAINT}}, "tolerations must be a list"),
    ("toleration a string", {"x": {**GOOD, "tolerations": ["t"]}}, "tolerations[0]: a toler"),
    (
        "toleration unknown key",
        {"x": {**GOOD, "tolerations": [{"key": "k", "operater": "Exists"}]}},
        "unknown toleration field(s) operater",
    ),
    (
        "toleration bad operator",
        {"x": {**GOOD, "tolerations": [{"key": "k", "operator": "In"}]}},
        "operator must be Exists or Equal",
    ),
    (
        "toleration bad effect",
        {"x": {**GOOD, "tolerations": [{"key": "k", "effect": "Never"}]}},
        "effect must be one of",
    ),
    (
        "Exists with a value",
        {"x": {**GOOD, "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
        "value must be empty when operator is Exists",
    ),
    (
        "seconds without NoExecute",
        {"x": {**GOOD, "tolerations": [{"key": "k", "tolerationSeconds": 5}]}},
        "tolerationSeconds needs effect NoExecute",
    ),
]


@pytest.mark.parametrize(("label", "doc", "message"), INVALID, ids=[v[0] for v in INVALID])
def test_parse_invalid(label: str, doc: Any, message: str) -> None:
    with pytest.raises(GpuProfileError) as err:
        parse_profiles(doc)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read GPU profiles file"),
        ("a: [unclosed", "is not valid YAML"),
        ("x: {gpus: 1}", "profile 'x': resourceName is required"),
    ],
    ids=["missing", "bad yaml", "invalid profile"],
)
def test_load_errors_name_the_file(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "profiles.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(GpuProfileError) as err:
        load_profiles(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_load_empty_file_is_no_profiles(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("")
    assert load_profiles(path) == {}


# --- operator start -----------------------------------------------------------


def test_profiles_come_from_the_env_or_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env.yaml"
    env_file.write_text(yaml.safe_dump({"amd": {"resourceName": "amd.com/gpu"}}))
    flag_file = tmp_path / "flag.yaml"
    flag_file.write_text(yaml.safe_dump({"a100": {"resourceName": "nvidia.com/gpu"}}))

    monkeypatch.delenv(settings.GPU_PROFILES_ENV, raising=False)
    none = settings.from_args(["run"])
    assert (none.gpu_profiles_path, dict(none.gpu_profiles)) == (None, {})

    monkeypatch.setenv(settings.GPU_PROFILES_ENV, str(env_file))
    assert list(settings.from_args(["run"]).gpu_profiles) == ["amd"]
    assert list(settings.from_args(["run", "--gpu-profiles", str(flag_file)]).gpu_profiles) == [
        "a100"
    ]

    monkeypatch.setenv(settings.GPU_PROFILES_ENV, "")  # set but empty: no profiles
    assert dict(settings.from_args(["run"]).gpu_profiles) == {}


def test_invalid_profiles_stop_the_operator_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(settings.GPU_PROFILES_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(SystemExit) as exited:
        main.cli(["run", "--standalone"])
    message = str(exited.value.code)
    assert message.startswith("pasture-operator: cannot read GPU profiles file")
    assert "missing.yaml" in message


# --- the merge ----------------------------------------------------------------

MERGE: list[tuple[str, dict[str, Any], GpuProfile | None, Placement]] = [
    ("no profile, no GPUs", {}, None, Placement(gpus=0)),
    (
        "no profile, spec GPUs get the GPU taint toleration",
        {"resources": {"gpus": 1}},
        None,
        Placement(gpus=1, tolerations=(GPU_TAINT,)),
    ),
    (
        "profile gives every default",
        {"resources": {"profile": "a100"}},
        A100,
        Placement(
            2, "nvidia.com/gpu", {"gpu": "a100", "zone": "a"}, (GPU_TAINT, DEDICATED), "a100"
        ),
    ),
    (
        "explicit gpus win, an explicit 0 included",
        {"resources": {"profile": "a100", "gpus": 0}},
        A100,
        Placement(
            0, "nvidia.com/gpu", {"gpu": "a100", "zone": "a"}, (GPU_TAINT, DEDICATED), "a100"
        ),
    ),
    (
        "explicit resource name wins; the toleration follows it",
        {"resources": {"profile": "amd", "gpuResourceName": "nvidia.com/mig-1g.10gb"}},
        AMD,
        Placement(
            1,
            "nvidia.com/mig-1g.10gb",
            {},
            ({"key": "nvidia.com/mig-1g.10gb", "operator": "Exists", "effect": "NoSchedule"},),
            "amd",
        ),
    ),
    (
        "profile resource name and its taint",
        {"resources": {"profile": "amd"}},
        AMD,
        Placement(
            1,
            "amd.com/gpu",
            {},
            ({"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
            "amd",
        ),
    ),
    (
        "node selector merged, spec keys win",
        {"resources": {"profile": "a100"}, "nodeSelector": {"zone": "b", "pool": "llm"}},
        A100,
        Placement(
            2,
            "nvidia.com/gpu",
            {"gpu": "a100", "zone": "b", "pool": "llm"},
            (GPU_TAINT, DEDICATED),
            "a100",
        ),
    ),
    (
        "tolerations: profile's then spec's, no duplicates (missing operator is Equal)",
        {
            "resources": {"profile": "a100"},
            "tolerations": [
                {"key": "dedicated", "value": "llm", "effect": "NoSchedule"},
                GPU_TAINT,
                {"key": "spot", "operator": "Exists"},
            ],
        },
        A100,
        Placement(
            2,
            "nvidia.com/gpu",
            {"gpu": "a100", "zone": "a"},
            (GPU_TAINT, DEDICATED, {"key": "spot", "operator": "Exists"}),
            "a100",
        ),
    ),
    (
        "a profile without GPUs adds no GPU toleration",
        {"resources": {"profile": "cpu-pool"}},
        CPU_POOL,
        Placement(0, "nvidia.com/gpu", {}, (), "cpu-pool"),
    ),
    (
        "spec GPUs on a profile without GPUs",
        {"resources": {"profile": "cpu-pool", "gpus": 4}},
        CPU_POOL,
        Placement(4, "nvidia.com/gpu", {}, (GPU_TAINT,), "cpu-pool"),
    ),
]


@pytest.mark.parametrize(("label", "spec", "profile", "want"), MERGE, ids=[m[0] for m in MERGE])
def test_merge(
    label: str, spec: dict[str, Any], profile: GpuProfile | None, want: Placement
) -> None:
    assert placement(DeploymentSpec.from_spec(spec), profile) == want


def test_merge_leaves_its_inputs_alone() -> None:
    spec = {"resources": {"profile": "a100"}, "tolerations": [{"key": "spot"}]}
    before = yaml.safe_dump(spec)
    place = placement(DeploymentSpec.from_spec(spec), A100)
    assert yaml.safe_dump(spec) == before
    assert A100.tolerations == (GPU_TAINT, DEDICATED)
    assert place.tolerations[0] is not GPU_TAINT  # copies, never the profile's own dicts


# --- the builder --------------------------------------------------------------

BUILD: list[tuple[str, dict[str, Any], GpuProfile | None, dict[str, Any]]] = [
    (
        "no profile, no GPUs: no GPU request, no placement",
        {"resources": {"cpu": 2}},
        None,
        {"requests": {"cpu": "2"}, "nodeSelector": None, "tolerations": None, "tp": 1},
    ),
    (
        "profile defaults",
        {"resources": {"profile": "a100", "memory": "16Gi"}},
        A100,
        {
            "requests": {"memory": "16Gi", "nvidia.com/gpu": "2"},
            "limits": {"memory": "16Gi", "nvidia.com/gpu": "2"},
            "nodeSelector": {"gpu": "a100", "zone": "a"},
            "tolerations": [GPU_TAINT, DEDICATED],
            "tp": 2,
        },
    ),
    (
        "spec overrides",
        {
            "resources": {"profile": "amd", "gpus": 4},
            "nodeSelector": {"rack": "r1"},
            "tolerations": [DEDICATED],
        },
        AMD,
        {
            "requests": {"amd.com/gpu": "4"},
            "limits": {"amd.com/gpu": "4"},
            "nodeSelector": {"rack": "r1"},
            "tolerations": [
                DEDICATED,
                {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ],
            "tp": 4,
        },
    ),
]


@pytest.mark.parametrize(("label", "spec", "profile", "want"), BUILD, ids=[b[0] for b in BUILD])
def test_builder_output(
    label: str, spec: dict[str, Any], profile: GpuProfile | None, want: dict[str, Any]
) -> None:
    body = md(**spec)
    parsed = DeploymentSpec.from_object(body)
    place = placement(parsed, profile)
    d = dep.deployment(
        Owner.from_object(body),
        parsed,
        image="rt:test",
        replicas=1,
        config_hash="h",
        volumes=[],
        placement=place,
    )
    pod_spec = d["spec"]["template"]["spec"]
    resources = pod_spec["containers"][0]["resources"]
    assert resources.get("requests") == want["requests"]
    assert resources.get("limits") == want.get("limits")
    assert pod_spec.get("nodeSelector") == want["nodeSelector"]
    assert pod_spec.get("tolerations") == want["tolerations"]
    cfg = cm.runtime_config(parsed, resolve(model()), (), gpus=place.gpus)
    assert cfg["engine"]["tensor_parallel_size"] == want["tp"]


# --- the plan -----------------------------------------------------------------

PROFILES = ChildDefaults(default_image="rt:test", gpu_profiles={"a100": A100, "amd": AMD})
NOW = "2026-01-01T00:00:00Z"


def plan(body: dict[str, Any], s: ChildDefaults = PROFILES, children: Any = None) -> Any:
    obs = DeploymentObserved(models={"tiny": model()}, children=children or {})
    return plan_deployment(body, obs, s, NOW)


def conds(p: Any) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in p.status["conditions"]}


def test_plan_uses_the_profile() -> None:
    p = plan(md(resources={"profile": "a100"}))
    (d,) = [o for o in p.apply if o["kind"] == "Deployment"]
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {"gpu": "a100", "zone": "a"}
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    (c,) = [o for o in p.apply if o["kind"] == "ConfigMap"]
    assert yaml.safe_load(c["data"]["runtime.yaml"])["engine"]["tensor_parallel_size"] == 2


@pytest.mark.parametrize(
    ("s", "fragment"),
    [
        (PROFILES, "GPU profile 'h200' is not known; known profiles: a100, amd"),
        (ChildDefaults(default_image="rt:test"), "the operator has no GPU profiles"),
    ],
    ids=["some profiles", "no profiles"],
)
def test_unknown_profile_blocks_children(s: ChildDefaults, fragment: str) -> None:
    body = md(resources={"profile": "h200", "gpus": 1})
    p = plan(body, s)
    assert p.apply == []
    assert p.desired == []
    assert p.delete == []
    assert conds(p) == {
        "Ready": ("False", "UnknownGPUProfile"),
        "Progressing": ("False", "UnknownGPUProfile"),
        "Degraded": ("True", "UnknownGPUProfile"),
        "ModelReady": ("True", "ModelReady"),
    }
    ready = next(c for c in p.status["conditions"] if c["type"] == "Ready")
    assert fragment in ready["message"]
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "UnknownGPUProfile")]
    assert fragment in p.events[0].message


def test_unknown_profile_leaves_existing_children_alone() -> None:
    good = plan(md(replicas=2, resources={"profile": "a100"}))
    children = {(o["kind"], o["metadata"]["name"]): o for o in good.apply}
    bad = plan(md(replicas=2, resources={"profile": "h200"}), children=children)
    # The running pods stay as they are.
    assert bad.apply == []
    assert bad.delete == []


def test_unknown_profile_recovers() -> None:
    broken = plan(md(resources={"profile": "h200"}))
    body = md(resources={"profile": "h200"})
    body["status"] = broken.status
    # The operator restarts with the profile...
    h200 = GpuProfile(name="h200", resource_name="nvidia.com/gpu", gpus=1)
    restarted = ChildDefaults(default_image="rt:test", gpu_profiles={"h200": h200})
    again = plan(body, restarted)
    assert "Deployment" in [o["kind"] for o in again.apply]
    assert conds(again)["Degraded"] == ("False", "AsExpected")
    # ...or the spec names a known one.
    fixed = md(resources={"profile": "a100"})
    fixed["status"] = broken.status
    assert "Deployment" in [o["kind"] for o in plan(fixed).apply]
    assert conds(plan(fixed))["Ready"] == ("False", "Starting")


def test_unknown_profile_reported_before_a_missing_model() -> None:
    body = md(resources={"profile": "h200"})
    obs = DeploymentObserved(models={}, children={})
    p = plan_deployment(body, obs, PROFILES, NOW)
    assert conds(p)["Ready"] == ("False", "UnknownGPUProfile")
    assert conds(p)["ModelReady"] == ("False", "ModelNotFound")


def test_tensor_parallel_beyond_the_profile_gpus_is_invalid() -> None:
    p = plan(md(resources={"profile": "a100"}, engine={"tensorParallelSize": 4}))
    assert p.apply == []
    assert conds(p)["Ready"] == ("False", "InvalidSpec")
    ready = next(c for c in p.status["conditions"] if c["type"] == "Ready")
    assert (
        "tensorParallelSize 4 exceeds the 2 GPU(s) per pod of GPU profile 'a100'"
        in (ready["message"])
    )
    assert "Deployment" in [o["kind"] for o in plan(md(resources={"profile": "a100"})).apply]


def test_example_with_the_chart_default_profiles() -> None:
    root = Path(__file__).resolve().parents[2]
    values = yaml.safe_load((root / "charts" / "pasture" / "values.yaml").read_text())
    profiles = parse_profiles(values["gpuProfiles"])
    body = yaml.safe_load(
        (root / "examples" / "gpu-profiles" / "modeldeployment-a100.yaml").read_text()
    )
    body["metadata"].update(namespace="ns", uid="uid-example", generation=1)
    obs = DeploymentObserved(models={"tiny": model()}, children={})
    p = plan_deployment(body, obs, ChildDefaults("rt:test", profiles), NOW)
    (d,) = [o for o in p.apply if o["kind"] == "Deployment"]
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "topology.kubernetes.io/zone": "us-east-1a",
    }
    assert pod_spec["tolerations"] == [GPU_TAINT]
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"

"""Every name and label the builders generate is valid for every name the CRDs admit.

The limits are read from the CRDs themselves (their `size(self.metadata.name)`
rules), and the names are drawn from what the apiserver accepts for any object
name (a DNS-1123 subdomain), so a tightened or loosened CRD re-runs this proof.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pasture_operator.builders import cache as cache_builders
from pasture_operator.builders import names
from pasture_operator.reconcile.deployment_plan import (
    ChildDefaults,
    DeploymentObserved,
    plan_deployment,
)
from pasture_operator.reconcile.model_plan import ModelObserved, plan_model
from pasture_operator.reconcile.resolve import resolve
from tests.operator.helpers import md, model

ROOT = Path(__file__).resolve().parents[2]

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label
LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035 label (Service names)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _crd_name_limit(file: str) -> int:
    crd = yaml.safe_load((ROOT / "crds" / file).read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for rule in schema.get("x-kubernetes-validations") or []:
        found = re.fullmatch(r"size\(self\.metadata\.name\) <= (\d+)", rule["rule"])
        if found:
            return int(found.group(1))
    return 253  # no rule: any object name


MODEL_LIMIT = _crd_name_limit("pasture.dev_models.yaml")
DEPLOYMENT_LIMIT = _crd_name_limit("pasture.dev_modeldeployments.yaml")


def is_subdomain(name: str, limit: int = 253) -> bool:
    return 0 < len(name) <= limit and all(LABEL.match(p) for p in name.split("."))


def is_label(name: str, limit: int = 63) -> bool:
    return 0 < len(name) <= limit and bool(LABEL.match(name))


def object_names(limit: int) -> st.SearchStrategy[str]:
    """Any name the apiserver admits for an object (a DNS-1123 subdomain), up to `limit`."""
    part = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
    return (
        st.lists(part, min_size=1, max_size=6)
        .map(".".join)
        .map(lambda n: n[:limit])
        .filter(lambda n: is_subdomain(n, limit))
    )


def _check_label_map(labels: dict[str, Any], where: str) -> None:
    for key, value in labels.items():
        prefix, _, key_name = key.rpartition("/")
        assert not prefix or is_subdomain(prefix), (where, key)
        assert len(key_name) <= 63, (where, key)
        assert LABEL_KEY_NAME.match(key_name), (where, key)
        assert len(str(value)) <= 63, (where, key, value)
        assert LABEL_VALUE.match(str(value)), (where, key, value)


def _walk(obj: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every mapping entry, nested."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def check_object(obj: dict[str, Any]) -> None:
    kind, meta = obj["kind"], obj["metadata"]
    name = meta["name"]
    assert is_subdomain(name), (kind, name)
    if kind == "Service":
        assert len(name) <= 63, (kind, name)
        assert LABEL_1035.match(name), (kind, name)
    if kind == "Job":  # its name becomes the pods' job-name label
        assert len(name) <= 63, (kind, name)
        assert LABEL_VALUE.match(name), (kind, name)
    _check_label_map(meta.get("labels") or {}, f"{kind}/{name}")
    for key, value in _walk(obj.get("spec") or {}):
        if key in ("labels", "matchLabels", "selector") and isinstance(value, dict):
            if key == "selector" and "matchLabels" in value:
                continue
            _check_label_map(value, f"{kind}/{name}.{key}")
        if key == "volumes":
            for vol in value:
                assert is_label(vol["name"]), (kind, name, vol["name"])
        if key in ("volumeMounts", "containers", "ports") and isinstance(value, list):
            for item in value:
                if "name" in item:
                    assert is_label(item["name"]), (kind, name, key, item["name"])


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(object_names(MODEL_LIMIT), st.sampled_from(["url", "hf", "pvc"]))
def test_model_children_valid_for_every_admitted_name(name: str, source: str) -> None:
    specs: dict[str, dict[str, Any]] = {
        "url": {
            "source": {"url": {"url": "https://example.com/a.tar.gz"}},
            "cache": {"size": "1Gi"},
        },
        "hf": {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}},
        "pvc": {"source": {"pvc": {"claimName": "weights"}}},
    }
    spec = specs[source]
    spec["adapters"] = [{"name": "a", "source": {"pvc": {"claimName": "adapters"}}}]
    plan = plan_model(model(name, spec, phase=None), ModelObserved(), downloader_image="i", now="T")
    for obj in plan.apply:
        check_object(obj)
    if source != "pvc":
        assert {o["kind"] for o in plan.apply} == {
            "PersistentVolumeClaim",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Job",
        }
    for vol in resolve(model(name, spec)).volumes:
        assert is_label(vol.name), vol


@FAST
@given(object_names(DEPLOYMENT_LIMIT), object_names(MODEL_LIMIT), object_names(MODEL_LIMIT))
def test_deployment_children_valid_for_every_admitted_name(
    md_name: str, base: str, variant: str
) -> None:
    adapter = [{"name": "lora", "source": {"pvc": {"claimName": "adapters"}}}]
    hf = {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}}
    models = {base: model(base, hf)}
    variants = []
    if variant != base:
        models[variant] = model(variant, {**hf, "servedName": "variant-of/x", "adapters": adapter})
        variants = [variant]
    body = md(
        md_name,
        modelRef={"name": base},
        variants=variants,
        replicas=2,
        access={"namespaces": ["x"]},
    )
    obs = DeploymentObserved(models=models, children={}, servicemonitor_crd=True)
    plan = plan_deployment(body, obs, ChildDefaults("img"), "T")
    assert {o["kind"] for o in plan.apply} >= {"Deployment", "Service", "ConfigMap"}
    for obj in plan.apply:
        check_object(obj)
    svc = next(o for o in plan.apply if o["kind"] == "Service")
    assert plan.status["endpoint"].startswith(f"http://{svc['metadata']['name']}.ns.svc")


def test_names_kept_when_valid_and_fitted_when_not() -> None:
    assert names.service_name("tiny") == "tiny"
    assert names.service_name("qwen2.5") != "qwen2.5"
    assert LABEL_1035.match(names.service_name("qwen2.5"))
    assert LABEL_1035.match(names.service_name("7b"))
    # Distinct inputs stay distinct after fitting (the hash suffix).
    assert names.service_name("qwen2.5") != names.service_name("qwen2-5")
    assert names.dns_label("adapter-" + "a" * 70) != names.dns_label("adapter-" + "a" * 71)
    long_model = "m" * MODEL_LIMIT
    job = cache_builders.job_name(
        resolve(
            model(
                long_model,
                {"source": {"huggingFace": {"repo": "org/tiny"}}, "cache": {"size": "1Gi"}},
            )
        )
    )
    assert len(job) <= 63
    assert job.startswith("m" * 20)

"""The weights digest against the real apiserver: the download's final report (made
by the real downloader against a loopback server) reaches Model status.digest; a
Model pinning another digest goes Failed (DigestMismatch) and its ModelDeployment
serves nothing; the CRD refuses malformed pins with a message.

kwok plays the kubelet: the download Job's pod "runs" and succeeds without running
the downloader, so the test puts the report where the downloader's pod puts it (the
Model's status, progress.py), as the Job would have."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, condition, field, get_json, wait_for
from tests.operator.test_downloader import server  # noqa: F401 (fixture)
from tests.operator.test_kube_operator import apply, md_yaml

pytestmark = pytest.mark.kube

OTHER = "sha256:" + "0" * 64


def _report(url: str, tmp_path: Path) -> dict[str, Any]:
    """The real downloader's final report for `url`."""
    progress = tmp_path / "progress.json"
    out = subprocess.run(
        [sys.executable, "-m", "pasture_operator.downloader", "--url", url,
         "--dest", str(tmp_path / "cache" / "model"), "--progress-file", str(progress),
         "--termination-log", str(tmp_path / "term")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(progress.read_text())
    assert report["digest"].startswith("sha256:")
    return report


def _objects(ns: str, name: str, url: str, pin: str | None) -> str:
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{name}-{ns}"},  # cluster-scoped: one per test
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": f"/tmp/{name}-{ns}", "type": "DirectoryOrCreate"},
            "claimRef": {"namespace": ns, "name": f"{name}-cache"},
        },
    }
    spec: dict[str, Any] = {"source": {"url": {"url": url}}, "cache": {"size": "1Gi"}}
    if pin:
        spec["digest"] = pin
    model = {"apiVersion": "pasture.dev/v1alpha1", "kind": "Model",
             "metadata": {"name": name}, "spec": spec}  # fmt: skip
    return yaml.safe_dump_all([pv, model])


def _report_into_status(k: KubeCluster, ns: str, model: str, report: dict[str, Any]) -> None:
    def pods() -> list[dict[str, Any]]:
        body = get_json(k, ns, "pods", "-l", f"pasture.dev/model={model}")
        return list((body or {}).get("items") or [])

    wait_for(pods, 90, f"the download Job's pod of {model}")
    patch = json.dumps({"status": {"digest": report["digest"]}})
    k.kubectl("patch", "-n", ns, "model", model, "--subresource=status", "--type=merge",
              "-p", patch)  # fmt: skip


def test_the_download_digest_reaches_status_and_a_pin_mismatch_fails(
    kube_cluster: KubeCluster,
    namespace: str,
    operator: OperatorProcess,
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    k, ns, url = kube_cluster, namespace, f"{server}/tiny.tar.gz"
    report = _report(url, tmp_path)
    try:
        apply(k, ns, _objects(ns, "plain", url, None))
        apply(k, ns, _objects(ns, "pinned", url, OTHER))
        apply(k, ns, md_yaml("pinned", modelRef={"name": "pinned"}))
        for model in ("plain", "pinned"):
            _report_into_status(k, ns, model, report)

        def status(name: str) -> dict[str, Any]:
            return dict(field(k, ns, "model", name, "status") or {})

        wait_for(
            lambda: (
                status("plain").get("phase") == "Ready"
                and status("plain").get("digest") == report["digest"]
            ),
            90,
            "Model plain Ready with the download's digest",
        )
        body = wait_for(
            lambda: (
                (b := get_json(k, ns, "model", "pinned"))
                and condition(b, "Ready").get("reason") == "DigestMismatch"
                and report["digest"] in condition(b, "Ready")["message"]
                and b
            ),
            90,
            "Model pinned Failed with DigestMismatch",
        )
        assert body["status"]["phase"] == "Failed"
        message = condition(body, "Ready")["message"]
        assert report["digest"] in message
        assert f"spec.digest pins {OTHER}" in message
        md = wait_for(
            lambda: (
                (b := get_json(k, ns, "modeldeployment", "pinned"))
                and condition(b, "ModelReady").get("reason") == "ModelFailed"
                and b
            ),
            60,
            "the ModelDeployment sees the failed pin",
        )
        assert "spec.digest pins" in condition(md, "ModelReady")["message"]
        assert field(k, ns, "deployment", "pinned", "spec", "replicas", default=0) == 0
    finally:
        for model in ("plain", "pinned"):
            k.kubectl("delete", "pv", f"{model}-{ns}", "--wait=false", check=False)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"digest": "sha256:ABC", "cache": {"size": "1Gi"}}, "64 lowercase hex digits"),
        ({"digest": "0" * 64, "cache": {"size": "1Gi"}}, "64 lowercase hex digits"),
        ({"digest": "sha256:" + "a" * 64}, "it needs spec.cache"),
    ],
    ids=["upper-short", "no-prefix", "no-cache"],
)
def test_malformed_pins_are_refused(
    crds: KubeCluster, namespace: str, spec: dict[str, Any], says: str
) -> None:
    body = {"apiVersion": "pasture.dev/v1alpha1", "kind": "Model", "metadata": {"name": "bad"},
            "spec": {"source": {"huggingFace": {"repo": "org/tiny"}}, **spec}}  # fmt: skip
    out = apply(crds, namespace, json.dumps(body), check=False)
    assert out.returncode != 0
    assert says in out.stderr, out.stderr

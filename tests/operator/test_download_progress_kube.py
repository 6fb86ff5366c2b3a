"""Live download progress on the real control plane.

The operator makes a cached Model's download Job and its own ServiceAccount,
Role and RoleBinding. kwok would complete a Job's pod at once, so the cache PVC
is left unbound (no such StorageClass: the pod is never scheduled) and this test
plays the kubelet (marks the pod Running) and the pod itself: the real
downloader process, with the Job's arguments and
environment and a TokenRequest token of the Job's ServiceAccount, downloads a
file served slowly from a loopback HTTP server and writes its progress into the
Model's status while the test watches `kubectl get models`. The same token is
refused (403) on another Model's status, on reading its own Model and on pods.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.cluster import KubeCluster
from tests.operator.conftest import OperatorProcess, field, get_json, wait_for

pytestmark = pytest.mark.kube
SIZE = 6 * 2**20
CHUNK = 64 * 2**10
PAUSE = 0.125  # about 512 KiB/s: a 12 s download, a report about every 2 s


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()
        for _ in range(SIZE // CHUNK):
            self.wfile.write(b"\0" * CHUNK)
            self.wfile.flush()
            time.sleep(PAUSE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def _model(name: str, source: dict[str, Any], cache: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {"source": source, **({"cache": cache} if cache else {})}
    body = {"apiVersion": "pasture.dev/v1alpha1", "kind": "Model", "metadata": {"name": name}}
    return yaml.safe_dump({**body, "spec": spec})


class PlayedPod:
    """The download Job's pod, played on this machine with the Job's own identity."""

    def __init__(self, k: KubeCluster, ns: str, job: dict[str, Any], tmp: Path) -> None:
        pod = job["spec"]["template"]["spec"]
        self.account = str(pod["serviceAccountName"])
        cluster = yaml.safe_load(k.kubeconfig.read_text())["clusters"][0]["cluster"]
        self.server = str(cluster["server"])
        sa = tmp / "serviceaccount"
        sa.mkdir()
        (sa / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        token = k.kubectl("create", "token", self.account, "-n", ns).stdout.strip()
        (sa / "token").write_text(token)
        self.token, self.ca = token, str(sa / "ca.crt")
        container = pod["containers"][0]
        env = {e["name"]: e.get("value", "") for e in container["env"]}
        env["POD_NAMESPACE"] = ns  # the Job's fieldRef
        host, port = self.server.removeprefix("https://").rsplit(":", 1)
        self.env = {
            **os.environ,
            **env,
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
            "PASTURE_SERVICEACCOUNT_DIR": str(sa),
        }
        args = list(container["args"])
        args[args.index("--dest") + 1] = str(tmp / "models" / "model")
        self.args = [*args, "--termination-log", str(tmp / "termination-log")]

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def call(self, method: str, path: str, body: Any = None) -> int:
        """An API call with the Job's token: its HTTP status."""
        return httpx.request(
            method,
            f"{self.server}{path}",
            verify=ssl.create_default_context(cafile=self.ca),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/merge-patch+json",
            },
            content=json.dumps(body) if body is not None else None,
            timeout=30,
        ).status_code


def _job(k: KubeCluster, ns: str) -> dict[str, Any] | None:
    jobs = get_json(k, ns, "jobs", "-l", "pasture.dev/model=slow")
    items = (jobs or {}).get("items") or []
    return dict(items[0]) if items else None


def _pod(k: KubeCluster, ns: str) -> str | None:
    pods = get_json(k, ns, "pods", "-l", "pasture.dev/model=slow")
    items = (pods or {}).get("items") or []
    return str(items[0]["metadata"]["name"]) if items else None


def test_download_progress_reaches_the_model_status_with_least_privilege(
    kube_cluster: KubeCluster,
    namespace: str,
    operator: OperatorProcess,
    slow_server: str,
    tmp_path: Path,
) -> None:
    k, ns = kube_cluster, namespace
    source = {"url": {"url": f"{slow_server}/weights.bin"}}
    k.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=_model("slow", source, {"size": "1Gi", "storageClassName": "unbound"}),
    )
    k.kubectl(
        "apply", "-n", ns, "-f", "-", input=_model("other", {"huggingFace": {"repo": "org/x"}})
    )
    job = wait_for(lambda: _job(k, ns), 60, "the download Job")
    played = PlayedPod(k, ns, job, tmp_path)
    for kind in ("serviceaccount", "role", "rolebinding"):  # made before the Job
        assert get_json(k, ns, kind, played.account) is not None, kind
    pod = wait_for(lambda: _pod(k, ns), 60, "the download Job's pod")
    running = '{"status": {"phase": "Running"}}'
    k.kubectl("patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge", "-p", running)
    wait_for(
        lambda: field(k, ns, "model", "slow", "status", "phase") == "Downloading",
        60,
        "the Model Downloading",
    )

    _least_privilege(played, ns)
    seen = _watch_download(k, ns, played)

    # Several reports while bytes moved, each with a rate, an ETA and the column text.
    moving = [s for s in seen if 0 < s["bytesDone"] < SIZE]
    assert len({s["bytesDone"] for s in moving}) >= 3, seen
    for s in moving:
        assert s["bytesTotal"] == SIZE
        assert s["progress"].endswith("% of 6.0 MiB"), s
        assert s["progressTime"]
    assert any(s.get("bytesPerSecond", 0) > 0 and s.get("etaSeconds", 0) > 0 for s in moving)
    final = field(k, ns, "model", "slow", "status")
    assert (final["bytesDone"], final["bytesTotal"]) == (SIZE, SIZE)
    assert (final["etaSeconds"], final["progress"]) == (0, "100% of 6.0 MiB")
    assert final["phase"] == "Downloading"  # the played pod never completes the Job
    # Every report made the operator look again; its access objects were applied once.
    applies = [
        line
        for line in operator.metrics().splitlines()
        if line.startswith("pasture_operator_applies_total{")
        and any(f'kind="{kind}"' in line for kind in ("ServiceAccount", "Role", "RoleBinding"))
    ]
    assert len(applies) == 3, applies
    assert all(line.endswith(" 1.0") for line in applies), applies


def _least_privilege(played: PlayedPod, ns: str) -> None:
    models = f"/apis/pasture.dev/v1alpha1/namespaces/{ns}/models"
    probe = {"status": {"progress": "probe"}}
    assert played.call("PATCH", f"{models}/slow/status", probe) == 200
    assert played.call("PATCH", f"{models}/other/status", probe) == 403
    assert played.call("GET", f"{models}/slow") == 403  # patch only, never read
    assert played.call("PATCH", f"{models}/slow", {"spec": {"served": "x"}}) == 403
    assert played.call("GET", f"/api/v1/namespaces/{ns}/pods") == 403
    pods = f"/api/v1/namespaces/{ns}/pods/anything"
    assert played.call("PATCH", pods, {"metadata": {"annotations": {"a": "b"}}}) == 403


def _watch_download(k: KubeCluster, ns: str, played: PlayedPod) -> list[dict[str, Any]]:
    """Run the downloader; the Model statuses `kubectl get` showed meanwhile."""
    proc = played.start()
    seen: list[dict[str, Any]] = []
    columns = ""
    try:
        while proc.poll() is None:
            status = field(k, ns, "model", "slow", "status") or {}
            if status.get("progress", "probe") != "probe":
                seen.append(status)
            table = k.kubectl("get", "models", "-n", ns).stdout
            columns = table if "% of" in table else columns
            time.sleep(0.5)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "progress report failed" not in err, err  # every status write was admitted
    assert "PROGRESS" in columns.splitlines()[0], columns
    return seen

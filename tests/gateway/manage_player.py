"""The pods' part for the management CLI tests, under the REAL operator: a
loopback server sending a library entry's archive slowly (SlowFiles), and the
kubelet's work on this machine (KubeletPlayer, whose docstring says exactly
what it does that the local control plane cannot)."""

from __future__ import annotations

import hashlib
import http.server
import io
import ipaddress
import itertools
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.cluster import POD_CIDR, KubeCluster
from tests.operator.test_download_progress_kube import PlayedPod


def tiny_archive(size: int = 1_500_000) -> bytes:
    """A tar of a config and some bytes: what a URL source points at."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("config.json", b"{}"), ("weights.bin", os.urandom(size))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class SlowFiles:
    """A loopback HTTP server sending each file in chunks, slowly, so a pull
    shows progress between its start and its end."""

    def __init__(self, files: dict[str, bytes], chunk: int = 200_000, pause: float = 0.4) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(0, len(data), chunk):
                    self.wfile.write(data[i : i + chunk])
                    self.wfile.flush()
                    time.sleep(pause)

            def log_message(self, *_: Any) -> None:
                pass

        self.files = files
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@dataclass
class _Download:
    proc: subprocess.Popen[bytes]
    container: str
    reported: bool = False  # its end written into the pod's status


@dataclass
class KubeletPlayer:
    """Does what a kubelet would for the pods the REAL operator's objects make,
    and nothing the operator does itself (phases, progress, servedNames and
    scaling are the operator's, the downloader's and the gateway's own writes).

    The cache PVC is never bound here (no StorageClass, no provisioner), so kwok
    schedules none of these pods and this player runs them: a download Job's pod
    is marked Running, the REAL downloader runs with the Job's own arguments,
    environment and ServiceAccount token (PlayedPod), and the pod is marked
    Succeeded (or Failed) with the downloader's exit code, which the Job
    controller turns into the Job's Complete (or Failed) condition. A runtime pod
    gets an IP from the top of the pod CIDR (kwok hands out IPs from the bottom)
    relayed to the real runtime (`bind`), and only then is marked Running and
    Ready, as a readiness probe would ensure."""

    kube: KubeCluster
    ns: str
    workdir: Path
    bind: Callable[[str], Callable[[], None]]
    downloads: dict[str, _Download] = field(default_factory=dict)  # pod -> its downloader
    runtimes: dict[str, Callable[[], None]] = field(default_factory=dict)  # pod -> unbind
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ips: Iterator[str] = field(init=False)

    def start(self) -> None:
        from kubernetes import client

        self._core = client.CoreV1Api(self.kube.api_client())
        self._batch = client.BatchV1Api(self.kube.api_client())
        hosts = ipaddress.ip_network(POD_CIDR, strict=False)
        self._ips = (str(hosts.broadcast_address - i) for i in itertools.count(1))
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for d in self.downloads.values():
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as e:  # the test reads these
                self.errors.append(e)
            time.sleep(0.2)

    def step(self) -> None:
        listed = self._core.list_namespaced_pod(self.ns)
        items: list[dict[str, Any]] = self._core.api_client.sanitize_for_serialization(listed)[
            "items"
        ]
        # A deleted pod lingers while a finalizer (the Job's tracking) holds it: gone.
        live = {
            str(p["metadata"]["name"]): p
            for p in items
            if not p["metadata"].get("deletionTimestamp")
        }
        for name, pod in live.items():
            if pod["spec"].get("nodeName"):
                continue  # kwok's to play
            meta = pod["metadata"]
            owners = {o["kind"]: str(o["name"]) for o in meta.get("ownerReferences") or ()}
            if "Job" in owners:
                self._play_download(name, owners["Job"])
            elif (meta.get("labels") or {}).get("pasture.dev/deployment"):
                self._play_runtime(name)
        for name in [n for n in self.runtimes if n not in live]:
            self.runtimes.pop(name)()
        for name, d in self.downloads.items():
            if name not in live and d.proc.poll() is None:
                d.proc.kill()  # its pod was deleted (the Model removed mid-download)

    def _status(self, pod: str, status: dict[str, Any]) -> None:
        self._core.patch_namespaced_pod_status(pod, self.ns, {"status": status})

    def _play_download(self, pod: str, job_name: str) -> None:
        d = self.downloads.get(pod)
        if d is None:
            job = self._batch.read_namespaced_job(job_name, self.ns)
            body: dict[str, Any] = self._core.api_client.sanitize_for_serialization(job)
            tmp = self.workdir / pod
            tmp.mkdir(parents=True)
            played = PlayedPod(self.kube, self.ns, body, tmp)
            self._status(pod, {"phase": "Running"})
            with (tmp / "downloader.log").open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, *played.args], env=played.env, stdout=out,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            container = body["spec"]["template"]["spec"]["containers"][0]["name"]
            self.downloads[pod] = _Download(proc, str(container))
            return
        code = d.proc.poll()
        if code is None or d.reported:
            return
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
        container = {"name": d.container, "ready": False, "restartCount": 0, "image": "",
                     "imageID": "", "state": {"terminated": terminated}}  # fmt: skip
        phase = "Succeeded" if code == 0 else "Failed"
        self._status(pod, {"phase": phase, "containerStatuses": [container]})
        d.reported = True

    def _play_runtime(self, pod: str) -> None:
        if pod in self.runtimes:
            return
        ip = next(self._ips)
        self.runtimes[pod] = self.bind(ip)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = [{"type": t, "status": "True", "lastTransitionTime": now}
                 for t in ("Initialized", "ContainersReady", "Ready")]  # fmt: skip
        self._status(pod, {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                           "startTime": now, "conditions": ready})  # fmt: skip


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

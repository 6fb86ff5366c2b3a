"""Plays the operator's part for the management CLI tests. A real operator
would need a bound cache PVC and a download Job whose kwok pod runs nothing and
never completes on the local control plane; here the REAL downloader process
(`python -m pasture_operator.downloader`) fetches each library name's URL from a
loopback HTTP server, and this player writes what the operator would: the
Model's phase and bytesDone/bytesTotal from the downloader's progress file,
`UnknownLibraryModel` for a name outside the catalog, each ModelDeployment's
servedNames, and a Ready pod (bound to the real runtime) when the gateway wakes
a ModelDeployment from zero."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.gateway.harness import Cluster

API = ("pasture.dev", "v1alpha1")


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
    progress: Path


@dataclass
class OperatorPlayer:
    cluster: Cluster
    catalog: dict[str, tuple[str, str]]  # library name (with tag) -> (url, sha256)
    workdir: Path
    bind: Callable[[str], object]
    downloads: dict[str, _Download] = field(default_factory=dict)
    pods: set[str] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._api = self.cluster.kube.api_client()
        from kubernetes import client

        self._objects = client.CustomObjectsApi(self._api)
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
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
            time.sleep(0.3)

    def _list(self, plural: str) -> list[dict[str, Any]]:
        out: Any = self._objects.list_namespaced_custom_object(*API, self.cluster.ns, plural)
        items: list[dict[str, Any]] = out["items"]
        return items

    def _status(self, plural: str, name: str, status: dict[str, Any]) -> None:
        self._objects.patch_namespaced_custom_object_status(
            *API, self.cluster.ns, plural, name, {"status": status}
        )

    def step(self) -> None:
        models = {m["metadata"]["name"]: m for m in self._list("models")}
        for name, m in models.items():
            self._play_model(name, m)
        for md in self._list("modeldeployments"):
            self._play_deployment(md, models)

    def _play_model(self, name: str, m: dict[str, Any]) -> None:
        gen, status = m["metadata"].get("generation", 1), m.get("status") or {}
        source = m["spec"].get("source") or {}
        lib = str(source.get("library") or "")
        if not status.get("phase") and name not in self.downloads:
            if not lib:
                self._status("models", name, {"phase": "Ready", "observedGeneration": gen})
            elif lib not in self.catalog:
                cond = {"type": "Ready", "status": "False", "reason": "UnknownLibraryModel",
                        "message": f"{lib!r} is not in the library catalog",
                        "lastTransitionTime": "2026-11-28T10:00:00Z"}  # fmt: skip
                failed = {"phase": "Failed", "observedGeneration": gen,
                          "message": cond["message"], "conditions": [cond]}  # fmt: skip
                self._status("models", name, failed)
            else:
                self._download(name, lib)
                self._status("models", name, {"phase": "Downloading", "observedGeneration": gen})
            return
        d = self.downloads.get(name)
        if d is not None and status.get("phase") == "Downloading":
            seen = json.loads(d.progress.read_text()) if d.progress.exists() else {}
            st: dict[str, Any] = {"observedGeneration": gen}
            if seen.get("total"):
                st |= {"bytesDone": seen["done"], "bytesTotal": seen["total"]}
            if d.proc.poll() == 0:
                st["phase"] = "Ready"
            self._status("models", name, st)
        elif status.get("phase") and int(status.get("observedGeneration") or 0) < gen:
            self._status("models", name, {"observedGeneration": gen})

    def _download(self, name: str, lib: str) -> None:
        url, sha = self.catalog[lib]
        dest, progress = self.workdir / name, self.workdir / f"{name}.progress"
        log = (self.workdir / f"{name}.download.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pasture_operator.downloader", "--dest", str(dest),
             "--url", url, "--sha256", sha, "--progress-file", str(progress),
             "--termination-log", str(self.workdir / f"{name}.termination")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.downloads[name] = _Download(proc, progress)

    def _play_deployment(self, md: dict[str, Any], models: dict[str, dict[str, Any]]) -> None:
        name, spec = md["metadata"]["name"], md["spec"]
        names = [spec["modelRef"]["name"], *(spec.get("variants") or ())]
        served: list[str] = []
        for n in names:
            m = models.get(n)
            if m is None or (m.get("status") or {}).get("phase") != "Ready":
                return
            served.append(m["spec"].get("servedName") or f"{n}:latest")
            served.extend(m["spec"].get("aliases") or ())
        if (md.get("status") or {}).get("servedNames") != served:
            self._status("modeldeployments", name, {"servedNames": served})
        if int(spec.get("replicas", 1)) >= 1 and name not in self.pods:
            self.pods.add(name)
            self.cluster.pod(f"{name}-0", name, self.bind)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

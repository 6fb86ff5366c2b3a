"""The real downloader's Hugging Face path checks the sha256 the hub publishes for
LFS files. The hub cannot be reached from here: a loopback server answers the few
hub endpoints huggingface_hub uses (repo info with file metadata, HEAD and GET of
`resolve/`), serving the tiny model's real files, as a mirror (HF_ENDPOINT) would."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pasture_operator.manifest import MANIFEST_NAME, Manifest

REPO = "org/tiny"
COMMIT = "c" * 40


class _Hub(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    published: ClassVar[dict[str, str]] = {}  # LFS sha256 the hub announces, per file
    endpoint: ClassVar[str] = ""

    def _file(self) -> bytes | None:
        prefix = f"/{REPO}/resolve/"
        if not self.path.startswith(prefix):
            return None
        rel = self.path[len(prefix) :].split("/", 1)[-1].split("?", 1)[0]
        return self.files.get(rel)

    def _send(self, body: bytes | None, head: bool = False) -> None:
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest() + '"')
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._send(self._file(), head=True)

    def _tree(self) -> list[dict[str, object]]:
        """/api/models/<repo>/tree/<rev> (snapshot_download lists the files)."""
        out: list[dict[str, object]] = []
        for rel, data in sorted(self.files.items()):
            entry: dict[str, object] = {"type": "file", "path": rel, "size": len(data),
                                        "oid": hashlib.sha1(data).hexdigest()}  # fmt: skip
            if rel in self.published:
                entry["lfs"] = {"oid": self.published[rel], "size": len(data), "pointerSize": 130}
            out.append(entry)
        return out

    def do_GET(self) -> None:
        if self.path.startswith(f"/api/models/{REPO}/tree/"):
            self._send(json.dumps(self._tree()).encode())
        elif self.path.startswith(f"/api/models/{REPO}"):
            siblings = []
            for rel, data in sorted(self.files.items()):
                entry: dict[str, object] = {"rfilename": rel, "size": len(data)}
                if rel in self.published:
                    entry["lfs"] = {"sha256": self.published[rel], "size": len(data),
                                    "pointerSize": 130}  # fmt: skip
                siblings.append(entry)
            info = {"id": REPO, "modelId": REPO, "sha": COMMIT, "private": False,
                    "siblings": siblings}  # fmt: skip
            self._send(json.dumps(info).encode())
        else:
            self._send(self._file())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hub(tiny_model_dir: Path) -> Iterator[type[_Hub]]:
    _Hub.files = {
        p.relative_to(tiny_model_dir).as_posix(): p.read_bytes()
        for p in tiny_model_dir.rglob("*")
        if p.is_file()
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Hub.endpoint = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield _Hub
    finally:
        httpd.shutdown()


def _download(hub: type[_Hub], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "pasture_operator.downloader", "--hf-repo", REPO,
         "--dest", str(tmp_path / "cache" / "model"), "--progress-file",
         str(tmp_path / "progress.json"), "--termination-log", str(tmp_path / "term")],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip


def test_hub_files_matching_their_published_sha256_are_sealed(
    hub: type[_Hub], tmp_path: Path
) -> None:
    weights = "model.safetensors"
    hub.published = {weights: hashlib.sha256(hub.files[weights]).hexdigest()}
    out = _download(hub, tmp_path)
    assert out.returncode == 0, out.stderr
    dest = tmp_path / "cache" / "model"
    manifest = Manifest.from_json((dest / MANIFEST_NAME).read_text())
    assert manifest.files[weights].sha256 == hub.published[weights]
    assert json.loads((tmp_path / "progress.json").read_text())["digest"] == manifest.digest


def test_a_file_differing_from_its_published_sha256_fails_the_download(
    hub: type[_Hub], tmp_path: Path
) -> None:
    hub.published = {"model.safetensors": "f" * 64}
    out = _download(hub, tmp_path)
    assert out.returncode == 2, out.stderr  # permanent: the Job fails at once
    message = (tmp_path / "term").read_text()
    assert message.startswith(f"sha256 mismatch for model.safetensors from {REPO}@main"), message
    assert "the hub publishes " + "f" * 64 in message
    assert not (tmp_path / "cache" / "model").exists()  # nothing swapped into the cache

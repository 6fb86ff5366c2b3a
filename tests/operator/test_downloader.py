"""The download Job's program, run as a plain process against a loopback HTTP server."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    archive: bytes = b""

    def do_GET(self) -> None:
        if self.path == "/tiny.tar.gz":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.archive)))
            self.end_headers()
            self.wfile.write(self.archive)
        elif self.path == "/private.tar.gz":
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Bearer")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    archive = tmp_path_factory.mktemp("archive") / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tiny_model_dir, arcname="tiny")
    _Handler.archive = archive.read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    # shutdown() waits for one poll: 0.5 s a test by default.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def download(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pasture_operator.downloader", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_downloads_and_unpacks_the_archive(
    server: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    dest, progress = tmp_path / "cache" / "model", tmp_path / "progress.json"
    out = download(
        "--url",
        f"{server}/tiny.tar.gz",
        "--dest",
        str(dest),
        "--progress-file",
        str(progress),
        "--termination-log",
        str(tmp_path / "term"),
    )
    assert out.returncode == 0, out.stderr
    # Plus the weights manifest (manifest.py; tests/operator/test_downloader_manifest.py).
    expected = sorted([*(p.name for p in tiny_model_dir.iterdir()), ".pasture-manifest.json"])
    assert sorted(p.name for p in dest.iterdir()) == expected
    assert (dest / "config.json").read_bytes() == (tiny_model_dir / "config.json").read_bytes()
    data = json.loads(progress.read_text())
    assert data["done"] == data["total"] > 0
    # Nothing half-done is left beside the destination.
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model"]


@pytest.mark.parametrize(
    ("path", "status"), [("/missing.tar.gz", "404"), ("/private.tar.gz", "401")]
)
def test_client_errors_are_permanent(server: str, tmp_path: Path, path: str, status: str) -> None:
    term = tmp_path / "term"
    out = download(
        "--url",
        f"{server}{path}",
        "--dest",
        str(tmp_path / "model"),
        "--termination-log",
        str(term),
    )
    assert out.returncode == 2
    assert f"HTTP {status}" in out.stderr
    assert f"HTTP {status}" in term.read_text()  # what the operator shows in Model status
    assert not (tmp_path / "model").exists()


def test_checksum_mismatch_is_permanent(server: str, tmp_path: Path) -> None:
    out = download(
        "--url",
        f"{server}/tiny.tar.gz",
        "--dest",
        str(tmp_path / "m"),
        "--sha256",
        "0" * 64,
        "--termination-log",
        str(tmp_path / "t"),
    )
    assert out.returncode == 2
    assert "sha256 mismatch" in out.stderr


def test_unreachable_server_is_retryable(tmp_path: Path) -> None:
    out = download(
        "--url",
        "http://127.0.0.1:9/x.tar.gz",
        "--dest",
        str(tmp_path / "m"),
        "--termination-log",
        str(tmp_path / "t"),
    )
    assert out.returncode == 1

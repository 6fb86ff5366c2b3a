"""The downloader on a real cluster's terms (issue 11, items 18 and 19): killed
attempts resume with HTTP Range, stale staging is removed, a too-small volume
fails at once with a clear reason, auth headers come from the environment and no
message shows URL credentials. Against a real loopback HTTP server."""

from __future__ import annotations

import http.server
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pasture_operator.downloader import Progress, clean_stale, download_url, work_dir
from pasture_operator.fetch import PermanentError

BODY = random.Random(11).randbytes(3 * 2**20 + 123)
ETAG = '"v1"'


@dataclass
class Served:
    ranges: list[str | None] = field(default_factory=list)
    cut_after: int | None = None  # close the connection after this many body bytes
    honour_range: bool = True


class _Handler(http.server.BaseHTTPRequestHandler):
    served = Served()
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        s = self.served
        if self.path.startswith("/private") and self.headers.get("Authorization") != "Bearer t0k":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        wanted = self.headers.get("Range")
        s.ranges.append(wanted)
        start = 0
        if wanted and s.honour_range and self.headers.get("If-Range") in (None, ETAG):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(BODY) - start))
        self.send_header("ETag", ETAG)
        self.end_headers()
        body = BODY[start:]
        if s.cut_after is not None:
            self.wfile.write(body[: s.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    _Handler.served = Served()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    # shutdown() waits for one poll: 0.5 s a test by default.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.served
    finally:
        httpd.shutdown()


def _progress() -> Progress:
    return Progress(None, None)


def test_an_interrupted_download_resumes_from_its_byte_offset(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    base, served = server
    url, dest = f"{base}/weights.bin", tmp_path / "cache" / "model"
    dest.parent.mkdir()
    served.cut_after = 2**20 + 7  # the pod is killed mid-way
    with pytest.raises(RuntimeError):
        download_url(url, dest, _progress())
    partial = work_dir(dest, f"url:{url}") / "blob-weights.bin"
    offset = partial.stat().st_size
    assert 0 < offset < len(BODY)
    served.cut_after = None
    progress = _progress()
    download_url(url, dest, progress)
    assert served.ranges == [None, f"bytes={offset}-"]
    assert (dest / "weights.bin").read_bytes() == BODY
    assert progress.done == len(BODY)
    assert progress.total == len(BODY)
    assert not list(dest.parent.glob(".download-*"))  # staging removed after success


def test_a_server_without_range_support_restarts_from_zero(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    base, served = server
    url, dest = f"{base}/weights.bin", tmp_path / "cache" / "model"
    dest.parent.mkdir()
    served.cut_after, served.honour_range = 1000, False
    with pytest.raises(RuntimeError):
        download_url(url, dest, _progress())
    served.cut_after = None
    download_url(url, dest, _progress())
    assert (dest / "weights.bin").read_bytes() == BODY


def test_stale_staging_is_removed_at_start(server: tuple[str, Served], tmp_path: Path) -> None:
    base, _ = server
    dest = tmp_path / "cache" / "model"
    stale = [dest.parent / ".download-0123456789abcdef", dest.parent / "model.old"]
    for d in stale:
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "junk").write_bytes(b"x" * 100)
    keep = work_dir(dest, "url:x")
    keep.mkdir()
    assert clean_stale(dest, keep=keep) == stale
    assert keep.exists()
    assert not any(d.exists() for d in stale)
    # ... and a download does it on its own.
    stale[0].mkdir()
    download_url(f"{base}/weights.bin", dest, _progress())
    assert not stale[0].exists()


def test_too_little_space_fails_before_writing(server: tuple[str, Served], tmp_path: Path) -> None:
    base, _ = server
    dest = tmp_path / "cache" / "model"
    dest.parent.mkdir()
    with pytest.raises(PermanentError) as err:
        download_url(f"{base}/weights.bin", dest, _progress(), free_space=lambda _: 2**20)
    assert "not enough space on the cache volume" in str(err.value)
    assert "need 3.0 MiB, 1.0 MiB free" in str(err.value)
    assert "raise spec.cache.size" in str(err.value)
    assert not list(dest.parent.glob(".download-*/blob-*"))  # nothing written
    assert not dest.exists()


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pasture_operator.downloader",
            *args,
            "--dest",
            str(tmp_path / "cache" / "model"),
            "--termination-log",
            str(tmp_path / "term"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_headers_from_the_environment_and_url_from_env(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    base, _ = server
    env = {"SRC": f"{base}/private.bin", "PASTURE_DOWNLOAD_HEADERS": "Authorization: Bearer t0k\n"}
    out = _run(tmp_path, env, "--url-env", "SRC")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "cache" / "model" / "private.bin").read_bytes() == BODY


def test_failure_messages_never_show_url_credentials(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    base, _ = server
    secret = base.replace("http://", "http://alice:s3cret@") + "/private.bin?token=abc123"
    out = _run(tmp_path, {"SRC": secret}, "--url-env", "SRC")
    assert out.returncode == 2  # 401: permanent
    shown = out.stderr + (tmp_path / "term").read_text()
    assert "401" in shown
    assert "REDACTED" in shown
    assert "s3cret" not in shown
    assert "abc123" not in shown

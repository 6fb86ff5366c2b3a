"""The real downloader (a plain process against a loopback HTTP server) seals what it
fetched: a manifest of every file's sha256 next to the weights, and its digest in the
final progress report (what becomes the Model's status.digest)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pasture_operator.manifest import MANIFEST_NAME, Manifest, build
from tests.operator.test_downloader import download, server  # noqa: F401 (fixture)


def test_url_download_writes_the_manifest_and_reports_its_digest(
    server: str,  # noqa: F811
    tiny_model_dir: Path,
    tmp_path: Path,
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
    manifest = Manifest.from_json((dest / MANIFEST_NAME).read_text())
    # Every fetched file, by content: the manifest's sums are the source files' own.
    want = {
        p.relative_to(tiny_model_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in tiny_model_dir.rglob("*")
        if p.is_file()
    }
    assert {rel: e.sha256 for rel, e in manifest.files.items()} == want
    assert build(dest) == manifest  # what is on disk is what the manifest says
    # The final report (progress file here; the pod's report path in a Job) carries it.
    report = json.loads(progress.read_text())
    assert report["digest"] == manifest.digest
    assert report["done"] == report["total"]
    assert json.loads(out.stdout.strip().splitlines()[-1])["digest"] == manifest.digest

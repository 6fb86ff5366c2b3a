"""Fill a model cache once: `python -m pasture_operator.downloader --dest DIR --url URL`
(or `--hf-repo REPO --revision REV`).

Runs in the download Job the operator creates for a Model with `spec.cache`.
URL sources are streamed to disk and unpacked (.tar, .tar.gz/.tgz, .tar.zst
not supported, .zip) or kept as a single file; Hugging Face sources use
huggingface_hub. Progress (bytes done / total) is written as JSON to
--progress-file and, inside a pod, to its `pasture.dev/download-progress`
annotation, which the operator turns into Model status.

Exit codes: 0 done; 2 a permanent source error (HTTP 401/403/404, bad archive,
checksum mismatch) that a retry cannot fix; 1 anything else (retried).
The last stderr line is the root cause; it also goes to /dev/termination-log.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx

PROGRESS_ANNOTATION = "pasture.dev/download-progress"
PERMANENT = 2
_CHUNK = 1 << 20
_REPORT_EVERY = 2.0  # seconds between progress reports


class PermanentError(Exception):
    """A failure that retrying will not fix."""


class Progress:
    def __init__(
        self, progress_file: Path | None, annotate: Callable[[dict[str, int | None]], None] | None
    ) -> None:
        self.done = 0
        self.total: int | None = None
        self._file = progress_file
        self._annotate = annotate
        self._last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        if time.monotonic() - self._last >= _REPORT_EVERY:
            self.report()

    def report(self) -> None:
        self._last = time.monotonic()
        data = {"done": self.done, "total": self.total}
        if self._file is not None:
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self._file)
        if self._annotate is not None:
            try:
                self._annotate(data)
            except Exception as e:  # progress is best effort
                print(f"progress annotation failed: {e}", file=sys.stderr)


def _pod_annotator() -> Callable[[dict[str, int | None]], None] | None:
    """Patch our own pod's annotation via the in-cluster API, when running in a pod."""
    name, ns = os.environ.get("POD_NAME"), os.environ.get("POD_NAMESPACE")
    sa = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    if not (name and ns and host and (sa / "token").exists()):
        return None
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    url = f"https://{host}:{port}/api/v1/namespaces/{ns}/pods/{name}"

    def annotate(data: dict[str, int | None]) -> None:
        token = (sa / "token").read_text().strip()
        httpx.patch(
            url,
            verify=str(sa / "ca.crt"),
            timeout=10,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/merge-patch+json",
            },
            content=json.dumps(
                {"metadata": {"annotations": {PROGRESS_ANNOTATION: json.dumps(data)}}}
            ),
        )

    return annotate


def _archive_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")):
        return "tar"
    if lower.endswith(".zip"):
        return "zip"
    return None


def _safe_extract_tar(path: Path, dest: Path) -> None:
    try:
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths and '..'
    except (tarfile.TarError, OSError) as e:
        raise PermanentError(f"cannot unpack archive: {e}") from e


def _safe_extract_zip(path: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                target = (dest / member).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise PermanentError(f"archive member escapes the destination: {member}")
            zf.extractall(dest)
    except zipfile.BadZipFile as e:
        raise PermanentError(f"cannot unpack archive: {e}") from e


def _flatten(dest: Path) -> None:
    """An archive holding one top-level directory: move its content up."""
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        for child in inner.iterdir():
            shutil.move(str(child), dest / child.name)
        inner.rmdir()


def download_url(
    url: str,
    dest: Path,
    progress: Progress,
    sha256: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
    try:
        name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "model"
        blob = work / name
        digest = hashlib.sha256()
        try:
            with httpx.stream(
                "GET", url, follow_redirects=True, timeout=60, headers=headers or {}
            ) as resp:
                if resp.status_code in (401, 403, 404, 410):
                    raise PermanentError(f"HTTP {resp.status_code} {resp.reason_phrase} from {url}")
                if resp.status_code >= 400:
                    raise RuntimeError(f"HTTP {resp.status_code} {resp.reason_phrase} from {url}")
                length = resp.headers.get("content-length")
                progress.total = int(length) if length and length.isdigit() else None
                progress.report()
                with blob.open("wb") as out:
                    for chunk in resp.iter_bytes(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        progress.add(len(chunk))
        except httpx.HTTPError as e:
            raise RuntimeError(f"download of {url} failed: {e}") from e
        if sha256 and digest.hexdigest() != sha256:
            raise PermanentError(f"sha256 mismatch for {url}: got {digest.hexdigest()}")
        staged = work / "staged"
        staged.mkdir()
        kind = _archive_kind(name)
        if kind == "tar":
            _safe_extract_tar(blob, staged)
        elif kind == "zip":
            _safe_extract_zip(blob, staged)
        else:
            shutil.move(str(blob), staged / name)
        _flatten(staged)
        _replace(staged, dest)
        progress.total = progress.total if progress.total is not None else progress.done
        progress.report()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _replace(staged: Path, dest: Path) -> None:
    """Swap the finished directory in, so a crash never leaves a half-filled cache."""
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    staged.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def download_hf(repo: str, revision: str, dest: Path, progress: Progress) -> None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    work = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
    try:
        snapshot_download(
            repo_id=repo,
            revision=revision,
            local_dir=work / "staged",
            token=os.environ.get("HF_TOKEN") or None,
        )
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as e:
        raise PermanentError(
            f"{type(e).__name__} for {repo}@{revision}: {str(e).splitlines()[0]}"
        ) from e
    try:
        staged = work / "staged"
        shutil.rmtree(staged / ".cache", ignore_errors=True)
        progress.done = sum(p.stat().st_size for p in staged.rglob("*") if p.is_file())
        progress.total = progress.done
        _replace(staged, dest)
        progress.report()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pasture_operator.downloader")
    p.add_argument("--dest", required=True, type=Path)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--url")
    src.add_argument("--hf-repo")
    p.add_argument("--revision", default="main")
    p.add_argument("--sha256")
    p.add_argument("--progress-file", type=Path)
    p.add_argument("--termination-log", type=Path, default=Path("/dev/termination-log"))
    a = p.parse_args(argv)
    a.dest.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(a.progress_file, _pod_annotator())
    try:
        if a.url:
            download_url(a.url, a.dest, progress, a.sha256)
        else:
            download_hf(a.hf_repo, a.revision, a.dest, progress)
    except PermanentError as e:
        return _fail(str(e), PERMANENT, a.termination_log)
    except Exception as e:
        return _fail(f"{type(e).__name__}: {e}", 1, a.termination_log)
    print(json.dumps({"done": progress.done, "total": progress.total, "dest": str(a.dest)}))
    return 0


def _fail(message: str, code: int, termination_log: Path) -> int:
    print(message, file=sys.stderr)
    with contextlib.suppress(OSError):  # not in a pod
        termination_log.write_text(message)
    return code


if __name__ == "__main__":
    sys.exit(main())

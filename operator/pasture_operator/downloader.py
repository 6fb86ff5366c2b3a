"""Fill a model cache once: `python -m pasture_operator.downloader --dest DIR --url URL`
(or `--url-env NAME`, the URL read from that environment variable, which keeps
credentials off the command line; or `--hf-repo REPO --revision REV`). HTTP
header lines (`Name: value`, one a line) for URL sources come from
$PASTURE_DOWNLOAD_HEADERS (the Model's `source.url.headersSecret`).

Runs in the download Job the operator creates for a Model with `spec.cache`.
URL sources are streamed to disk and unpacked (.tar, .tar.gz/.tgz, .tar.zst
not supported, .zip) or kept as a single file; Hugging Face sources use
huggingface_hub. Progress (bytes done / total, rate, ETA: progress.py) is
written as JSON to --progress-file and, inside the download Job's pod, straight
into the Model's status with the Job's own ServiceAccount, about every 2 s and
once at the end. Before the weights are
swapped in, every file is hashed into `<dest>/.pasture-manifest.json`
(manifest.py; Hugging Face files checked against the hub's published sha256);
the final report carries its `digest` (the Model's status.digest).

Exit codes: 0 done; 2 a permanent source error (HTTP 401/403/404, bad archive,
checksum mismatch, a hub sha256 mismatch) that a retry cannot fix; 1 anything else (retried).
The last stderr line is the root cause; it also goes to /dev/termination-log.
Every message is redacted (redact.py): URL credentials never reach logs or status.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import json
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

from pasture_operator.fetch import FreeSpace, PermanentError, check_space, fetch
from pasture_operator.manifest import hub_sha256s, seal
from pasture_operator.progress import Progress, bytes_present, status_writer
from pasture_operator.redact import redact

__all__ = ["Progress", "download_hf", "download_url", "main"]

HEADERS_ENV = "PASTURE_DOWNLOAD_HEADERS"
PERMANENT = 2
_CHUNK = 1 << 20


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


_FULL = "the cache volume is full (No space left on device); raise spec.cache.size"


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def work_dir(dest: Path, source: str) -> Path:
    """The staging directory of one source: stable across attempts, so a retry resumes."""
    return dest.parent / f".download-{hashlib.sha256(source.encode()).hexdigest()[:16]}"


def clean_stale(dest: Path, keep: Path) -> list[Path]:
    """Remove what killed attempts left behind (other sources' staging, a half swap)."""
    removed: list[Path] = []
    for path in [*dest.parent.glob(".download-*"), dest.with_name(dest.name + ".old")]:
        if path != keep and path.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _unpacked_size(blob: Path, kind: str) -> int:
    try:
        if kind == "zip":
            with zipfile.ZipFile(blob) as zf:
                return sum(i.file_size for i in zf.infolist())
        with tarfile.open(blob) as tar:
            return sum(m.size for m in tar if m.isfile())
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
        raise PermanentError(f"cannot read archive: {e}") from e


def download_url(
    url: str,
    dest: Path,
    progress: Progress,
    sha256: str | None = None,
    headers: dict[str, str] | None = None,
    free_space: FreeSpace = _free_bytes,
) -> None:
    """Download and unpack `url` into `dest`; a retry after a kill resumes the download.

    Space: the archive and its unpacked copy coexist until the swap (about 2x the
    model); the archive is deleted as soon as it is unpacked.
    """
    work = work_dir(dest, f"url:{url}")
    clean_stale(dest, keep=work)
    work.mkdir(exist_ok=True)
    shown = redact(url)
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "model"
    kind = _archive_kind(name)
    blob = work / f"blob-{name}"
    staged = work / "staged"
    shutil.rmtree(staged, ignore_errors=True)  # a half-done unpack of a killed attempt
    try:
        fetch(
            url,
            blob,
            progress,
            headers=headers,
            free_space=free_space,
            # An archive is unpacked next to itself: room for about as much again.
            reserve=(lambda total: total) if kind else (lambda total: 0),
            shown=shown,
        )
        if sha256:
            _verify_sha256(blob, sha256, shown)
        staged.mkdir()
        _unpack(blob, kind, staged / name, free_space)
        _flatten(staged)
        progress.digest = seal(staged).digest
        _replace(staged, dest)
        progress.total = progress.total if progress.total is not None else progress.done
    except PermanentError:
        shutil.rmtree(work, ignore_errors=True)  # a bad archive is not worth resuming
        raise
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise PermanentError(_FULL) from e
        raise
    else:
        shutil.rmtree(work, ignore_errors=True)
    # Any other failure keeps `work`: the next attempt resumes from its partial file.


def _verify_sha256(blob: Path, sha256: str, shown: str) -> None:
    digest = hashlib.sha256()
    with blob.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise PermanentError(f"sha256 mismatch for {shown}: got {digest.hexdigest()}")


def _unpack(blob: Path, kind: str | None, single: Path, free_space: FreeSpace) -> None:
    """Unpack an archive into `single`'s directory, or move a single file to `single`;
    the downloaded blob is gone afterwards."""
    staged = single.parent
    if kind is not None:
        check_space(blob.parent, _unpacked_size(blob, kind), free_space, "unpack the archive")
    if kind == "tar":
        _safe_extract_tar(blob, staged)
    elif kind == "zip":
        _safe_extract_zip(blob, staged)
    else:
        shutil.move(str(blob), single)
    blob.unlink(missing_ok=True)


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

    # Stable per source: huggingface_hub resumes its own partial files in it.
    work = work_dir(dest, f"hf:{repo}@{revision}")
    clean_stale(dest, keep=work)
    staged, token = work / "staged", os.environ.get("HF_TOKEN") or None
    # snapshot_download has no byte callback: the total comes from the file list,
    # the bytes done from what it has written so far, read on each progress tick.
    progress.total = hf_total(repo, revision, token)
    progress.sample(lambda: bytes_present(staged))
    try:
        snapshot_download(repo_id=repo, revision=revision, local_dir=staged, token=token)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as e:
        raise PermanentError(
            f"{type(e).__name__} for {repo}@{revision}: {str(e).splitlines()[0]}"
        ) from e
    except OSError as e:  # the hub gives no size up front: a full volume shows here
        if e.errno == errno.ENOSPC:
            raise PermanentError(_FULL) from e
        raise
    finally:
        progress.sample(None)
    try:
        shutil.rmtree(staged / ".cache", ignore_errors=True)
        progress.settle(bytes_present(staged))
        progress.total = progress.done
        published = _hub_sha256s(repo, revision)
        progress.digest = seal(staged, published, f"{repo}@{revision}").digest
        _replace(staged, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _hub_sha256s(repo: str, revision: str) -> dict[str, str]:
    """The sha256 the hub publishes per LFS file; {} when it will not say (checked
    where given, never a reason to fail the download by itself)."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(
            repo, revision=revision, files_metadata=True, token=os.environ.get("HF_TOKEN") or None
        )
    except Exception as e:  # an older mirror without file metadata
        print(f"no published checksums for {repo}@{revision}: {e}", file=sys.stderr)
        return {}
    return hub_sha256s(info.siblings or ())


def hf_total(repo: str, revision: str, token: str | None) -> int | None:
    """The repository's size at `revision` (every file, as snapshot_download fetches);
    None when the hub does not say. Best effort: snapshot_download reports real errors."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(repo, revision=revision, token=token, files_metadata=True)
    except Exception:
        return None
    sizes = [s.size for s in info.siblings or []]
    return sum(s for s in sizes if s is not None) if sizes and None not in sizes else None


def parse_headers(text: str) -> dict[str, str]:
    """`Name: value` lines into a dict; a bad line is named by number, never quoted."""
    headers: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise PermanentError(f"headers secret: line {n} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pasture_operator.downloader")
    p.add_argument("--dest", required=True, type=Path)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--url")
    src.add_argument("--url-env", metavar="NAME", help="read the URL from this env variable")
    src.add_argument("--hf-repo")
    p.add_argument("--revision", default="main")
    p.add_argument("--sha256")
    p.add_argument("--progress-file", type=Path)
    p.add_argument("--termination-log", type=Path, default=Path("/dev/termination-log"))
    a = p.parse_args(argv)
    a.dest.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(a.progress_file, status_writer())
    try:
        with progress.ticking():
            _download(a, progress)
        progress.finish({"digest": progress.digest} if progress.digest else None)
    except PermanentError as e:
        return _fail(str(e), PERMANENT, a.termination_log)
    except Exception as e:
        return _fail(f"{type(e).__name__}: {e}", 1, a.termination_log)
    done = {"done": progress.done, "total": progress.total, "dest": str(a.dest)}
    print(json.dumps({**done, "digest": progress.digest}))
    return 0


def _download(a: argparse.Namespace, progress: Progress) -> None:
    url = os.environ.get(a.url_env, "") if a.url_env else a.url
    if a.url_env and not url:
        raise PermanentError(f"${a.url_env} is empty: no URL to download")
    if url:
        headers = parse_headers(os.environ.get(HEADERS_ENV, ""))
        download_url(url, a.dest, progress, a.sha256, headers)
    else:
        download_hf(a.hf_repo, a.revision, a.dest, progress)


def _fail(message: str, code: int, termination_log: Path) -> int:
    message = redact(message)
    print(message, file=sys.stderr)
    with contextlib.suppress(OSError):  # not in a pod
        termination_log.write_text(message)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""One resumable HTTP download into a file, for the downloader (downloader.py).

A download Job's pod can be killed or evicted mid-way; its partial file stays on
the cache volume, and the next attempt asks only for the rest (`Range:
bytes=N-`). `If-Range` with the first response's strong ETag (or Last-Modified)
makes the server send the whole object again if it changed meanwhile; a server
without range support answers 200 and the file is rewritten from byte 0.
Free space is checked before the body is written, so a too-small volume fails
at once with the sizes in the message instead of ENOSPC after an hour.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class PermanentError(Exception):
    """A failure that retrying will not fix."""


class Sink(Protocol):
    """Where progress goes (downloader.Progress)."""

    done: int
    total: int | None

    def add(self, n: int) -> None: ...

    def report(self) -> None: ...


FreeSpace = Callable[[Path], int]


def size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_space(path: Path, need: int, free_space: FreeSpace, what: str) -> None:
    free = free_space(path)
    if need > free:
        raise PermanentError(
            f"not enough space on the cache volume to {what}: need {size(need)}, "
            f"{size(free)} free; raise spec.cache.size"
        )


def fetch(
    url: str,
    blob: Path,
    progress: Sink,
    *,
    headers: dict[str, str] | None = None,
    free_space: FreeSpace,
    reserve: Callable[[int], int] = lambda total: 0,
    shown: str = "",
) -> None:
    """Download `url` into `blob`, resuming a partial `blob` when the server allows.

    `reserve(total)` is extra space needed later (an archive's unpacked copy);
    `shown` is the URL as messages may show it (redacted).
    """
    validator = blob.with_name(blob.name + ".validator")
    have = blob.stat().st_size if blob.exists() else 0
    request = _request_headers(headers, have, validator)
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60, headers=request) as resp:
            if resp.status_code != 416 or not have:
                _check_status(resp, shown)
                mode, start, total = _resume_point(resp, have, blob, validator, shown)
                _remember_validator(resp, validator)
                progress.done, progress.total = start, total
                progress.report()
                if total is not None:
                    check_space(
                        blob.parent,
                        total - start + reserve(total),
                        free_space,
                        "download the model",
                    )
                _write_body(resp, blob, mode, progress)
                return
            # 416: nothing left past our offset: start over, once (from byte 0 it cannot recur).
            blob.unlink()
            validator.unlink(missing_ok=True)
    except httpx.HTTPError as e:
        raise RuntimeError(f"download of {shown} failed: {e}") from e
    fetch(url, blob, progress, headers=headers, free_space=free_space, reserve=reserve, shown=shown)


def _request_headers(headers: dict[str, str] | None, have: int, validator: Path) -> dict[str, str]:
    """The caller's headers, plus a Range for the rest of a partial file."""
    request = dict(headers or {})
    if have:
        request["Range"] = f"bytes={have}-"
        if validator.exists():
            request["If-Range"] = validator.read_text()
    return request


def _check_status(resp: httpx.Response, shown: str) -> None:
    status = resp.status_code
    if status in (401, 403, 404, 410):
        raise PermanentError(f"HTTP {status} {resp.reason_phrase} from {shown}")
    if status >= 400:
        raise RuntimeError(f"HTTP {status} {resp.reason_phrase} from {shown}")


def _resume_point(
    resp: httpx.Response, have: int, blob: Path, validator: Path, shown: str
) -> tuple[str, int, int | None]:
    """(file mode, first byte the body holds, total size if known) of a 200 or 206."""
    found = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", ""))
    if resp.status_code == 206 and (found is None or int(found.group(1)) != have):
        blob.unlink(missing_ok=True)  # not the range we asked for: start over
        validator.unlink(missing_ok=True)
        raise RuntimeError(f"unexpected Content-Range from {shown}; restarting")
    if resp.status_code == 206 and found:
        return "ab", have, int(found.group(3)) if found.group(3) != "*" else None
    # The whole object (no range support, or it changed): from byte 0.
    length = resp.headers.get("content-length", "")
    return "wb", 0, int(length) if length.isdigit() else None


def _remember_validator(resp: httpx.Response, validator: Path) -> None:
    tag = resp.headers.get("etag") or resp.headers.get("last-modified") or ""
    if tag and not tag.startswith("W/"):  # If-Range needs a strong validator
        validator.write_text(tag)
    else:
        validator.unlink(missing_ok=True)


def _write_body(resp: httpx.Response, blob: Path, mode: str, progress: Sink) -> None:
    with blob.open(mode) as out:
        # As the network delivers (no 1 MiB buffering): a slow link still moves
        # the progress count between reports.
        for chunk in resp.iter_bytes():
            out.write(chunk)
            progress.add(len(chunk))

"""Ollama's pull/create progress lines (api.ProgressResponse: status, digest,
total, completed) drawn from a Model's status, so the stock `ollama` CLI draws
its progress bar while the operator's download Job fills the cache. Pure.

The wire shape follows Ollama v0.17.4 (server/images.go PullModel,
server/download.go): "pulling manifest", then per blob "pulling <digest[7:19]>"
with digest/total/completed, then "verifying sha256 digest", "writing
manifest", "success"; an error is one `{"error": "..."}` line."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Ollama's own text for a name its registry does not have (pullModelManifest
# returns os.ErrNotExist, wrapped by PullModel).
UNKNOWN_MODEL = "pull model manifest: file does not exist"
UNKNOWN_REASONS = frozenset({"UnknownLibraryModel"})

Line = dict[str, Any]


@dataclass(frozen=True)
class ModelProgress:
    """The parts of a Model's status a pull follows."""

    phase: str  # Pending | Downloading | Ready | Failed
    bytes_done: int
    bytes_total: int
    reason: str
    message: str
    current: bool  # status.observedGeneration caught up with the spec

    @classmethod
    def of(cls, model: Mapping[str, Any] | None) -> ModelProgress:
        if model is None:
            return cls("Pending", 0, 0, "", "", False)
        meta, status = model.get("metadata") or {}, model.get("status") or {}
        conditions: list[dict[str, Any]] = list(status.get("conditions") or ())
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        seen, generation = status.get("observedGeneration"), meta.get("generation")
        return cls(
            phase=str(status.get("phase") or "Pending"),
            bytes_done=_int(status.get("bytesDone")),
            bytes_total=_int(status.get("bytesTotal")),
            reason=str(ready.get("reason") or ""),
            message=str(status.get("message") or ready.get("message") or ""),
            current=seen is not None and (generation is None or int(seen) >= int(generation)),
        )

    @property
    def ready(self) -> bool:
        return self.current and self.phase == "Ready"

    @property
    def failed(self) -> bool:
        return self.current and self.phase == "Failed"

    @property
    def unknown_name(self) -> bool:
        return self.failed and self.reason in UNKNOWN_REASONS


def _int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def blob_digest(namespace: str, name: str, uid: str) -> str:
    """A stable sha256 digest naming this Model's weights (the CLI shows 12 hex)."""
    return "sha256:" + hashlib.sha256(f"{namespace}/{name}/{uid}".encode()).hexdigest()


def manifest_line() -> Line:
    return {"status": "pulling manifest"}


def blob_line(digest: str, p: ModelProgress) -> Line | None:
    """The download's progress, once its size is known (the CLI's bar needs a total)."""
    total = p.bytes_total
    if total <= 0:
        return None
    done = total if p.phase == "Ready" else min(p.bytes_done, total)
    line: Line = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
    if done:
        line["completed"] = done
    return line


def finish_lines() -> list[Line]:
    return [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]


def failure_text(p: ModelProgress) -> str:
    """The Model's verdict as the stream's last line: Ollama's own text for an
    unknown name, else the Model's reason and message."""
    if p.unknown_name:
        return UNKNOWN_MODEL
    text = p.message or "the download failed"
    return f"{p.reason}: {text}" if p.reason else text


def error_line(text: str) -> Line:
    return {"error": text}

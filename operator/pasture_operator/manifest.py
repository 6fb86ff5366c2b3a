"""The weights manifest the downloader writes next to a cached model.

`<weights>/.pasture-manifest.json` lists every file's sha256 and size:

    {"files": {"config.json": {"sha256": "<hex>", "size": 123}, ...},
     "digest": "sha256:<hex>"}

The digest is the sha256 of the canonical form of `files` (the JSON of
`{"files": ...}` with sorted keys and no whitespace), so it names the content
of the weights, not their file names and sizes. It becomes the Model's
`status.digest`, what `/api/tags` reports, and what `spec.digest` pins. The
runtime checks the files against this manifest at start
(pasture_runtime/weights_check.py keeps its own reader of the same format: the
runtime and the operator share no code).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pasture_operator.fetch import PermanentError

MANIFEST_NAME = ".pasture-manifest.json"
_CHUNK = 1 << 20


class ManifestError(PermanentError):
    """The weights do not match what they must match: a retry cannot fix it."""


@dataclass(frozen=True)
class FileEntry:
    sha256: str  # hex
    size: int


@dataclass(frozen=True)
class Manifest:
    files: Mapping[str, FileEntry]  # relative POSIX path -> entry

    def canonical(self) -> bytes:
        files = {p: {"sha256": e.sha256, "size": e.size} for p, e in self.files.items()}
        return json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical()).hexdigest()

    def to_json(self) -> str:
        body = json.loads(self.canonical())
        body["digest"] = self.digest
        return json.dumps(body, sort_keys=True, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; its recorded digest must be the one of its files."""
        try:
            body = json.loads(text)
            files = {
                str(p): FileEntry(str(e["sha256"]), int(e["size"]))
                for p, e in dict(body["files"]).items()
            }
            recorded = str(body["digest"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ManifestError(f"{MANIFEST_NAME} is not a valid manifest: {e}") from e
        manifest = cls(files)
        if manifest.digest != recorded:
            raise ManifestError(
                f"{MANIFEST_NAME} records digest {recorded}, but its files give {manifest.digest}"
            )
        return manifest


def hash_file(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def weight_files(root: Path) -> Iterable[Path]:
    """Every regular file under `root` but the manifest itself, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)


def build(root: Path) -> Manifest:
    return Manifest({p.relative_to(root).as_posix(): hash_file(p) for p in weight_files(root)})


def check_published(manifest: Manifest, published: Mapping[str, str], source: str) -> None:
    """Every file the source publishes a sha256 for (Hugging Face LFS files) must have it."""
    for path, want in sorted(published.items()):
        got = manifest.files.get(path)
        if got is not None and got.sha256 != want.lower():
            raise ManifestError(
                f"sha256 mismatch for {path} from {source}: the hub publishes {want}, "
                f"the downloaded file has {got.sha256}"
            )


def hub_sha256s(siblings: Iterable[Any]) -> dict[str, str]:
    """The sha256 Hugging Face publishes per file (`model_info(files_metadata=True)`'s
    siblings): LFS files carry one; small files in git only a blob id, not checked."""
    out: dict[str, str] = {}
    for s in siblings:
        lfs = getattr(s, "lfs", None)
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        if sha is None and isinstance(lfs, Mapping):
            sha = lfs.get("sha256")
        if sha:
            out[str(s.rfilename)] = str(sha)
    return out


def seal(root: Path, published: Mapping[str, str] | None = None, source: str = "") -> Manifest:
    """Hash every file under `root`, check the published sums, write the manifest."""
    manifest = build(root)
    if published:
        check_published(manifest, published, source)
    (root / MANIFEST_NAME).write_text(manifest.to_json())
    return manifest

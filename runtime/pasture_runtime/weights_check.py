"""Refuse to serve weights that are not what was downloaded.

The operator's downloader writes `<weights>/.pasture-manifest.json` (every
file's sha256 and size, and a digest over them: pasture_operator/manifest.py,
whose format this module reads; the runtime and the operator share no code).
At start, before the engine loads anything, the runtime hashes the files again
and refuses on any difference: a changed byte, a missing or an added file (an
added shard or a remote-code file is as dangerous as a changed one). When the
Model pins a digest (spec.digest, passed as `engine.weights_digest`), the
manifest must carry it too, so replacing the weights and the manifest together
is refused as well.

Weights without a manifest (a pvc source, a cache filled before manifests) are
served unchecked, unless a digest is pinned. `engine.verify_weights: false`
skips the hashing for very large models (start time: the files are read once
more, at disk speed); a pinned digest is still compared with the manifest's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST_NAME = ".pasture-manifest.json"
_CHUNK = 1 << 20
# Problems named in the termination message; the rest are counted.
_SHOWN = 3


class TamperedWeights(Exception):
    """The weights on disk are not the ones the manifest (or the pin) names."""


@dataclass(frozen=True)
class Manifest:
    files: dict[str, tuple[str, int]]  # relative POSIX path -> (sha256 hex, size)
    digest: str  # "sha256:<hex>", as recorded (checked against `files` on load)


def _canonical_digest(files: dict[str, tuple[str, int]]) -> str:
    body = {"files": {p: {"sha256": sha, "size": size} for p, (sha, size) in files.items()}}
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(text).hexdigest()


def load_manifest(root: Path) -> Manifest | None:
    """The manifest in `root`, None when there is none; a broken one is tampering."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        files = {str(p): (str(e["sha256"]), int(e["size"])) for p, e in body["files"].items()}
        recorded = str(body["digest"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise TamperedWeights(f"{MANIFEST_NAME} is unreadable: {e}") from e
    if _canonical_digest(files) != recorded:
        raise TamperedWeights(f"{MANIFEST_NAME} was edited: its digest does not match its files")
    return Manifest(files, recorded)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def differences(root: Path, manifest: Manifest) -> list[str]:
    """What on disk differs from the manifest, one phrase each (empty: all match)."""
    on_disk = {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    problems = [f"{rel} is missing" for rel in sorted(set(manifest.files) - set(on_disk))]
    problems += [
        f"{rel} is not in the manifest" for rel in sorted(set(on_disk) - set(manifest.files))
    ]
    for rel, (sha, size) in sorted(manifest.files.items()):
        path = on_disk.get(rel)
        if path is None:
            continue
        actual_size = path.stat().st_size
        if actual_size != size:  # no need to read it
            problems.append(f"{rel} has {actual_size} bytes, not {size}")
            continue
        actual = _sha256(path)
        if actual != sha:
            problems.append(f"{rel} has sha256 {actual[:16]}..., not {sha[:16]}...")
    return problems


def verify(model: str, *, enabled: bool = True, pinned: str | None = None) -> str | None:
    """Check the weights at `model` (a local directory); returns the digest to report
    (the manifest's), None for weights without one. Raises TamperedWeights."""
    root = Path(model)
    if not root.is_dir():
        if pinned:
            raise TamperedWeights(
                f"digest {pinned} is pinned, but {model} is not a local directory"
            )
        return None
    manifest = load_manifest(root)
    if manifest is None:
        if pinned:
            raise TamperedWeights(f"digest {pinned} is pinned, but {model} has no {MANIFEST_NAME}")
        log.info("no weights manifest in %s: served unchecked", model)
        return None
    if pinned and manifest.digest != pinned:
        raise TamperedWeights(
            f"the weights' manifest has digest {manifest.digest}, pinned {pinned}"
        )
    if not enabled:
        log.warning("weights verification is off (engine.verify_weights): not hashed")
        return manifest.digest
    problems = differences(root, manifest)
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise TamperedWeights(
            f"{len(problems)} file(s) differ from the manifest {manifest.digest}: "
            + "; ".join(problems[:_SHOWN])
            + more
        )
    return manifest.digest


def refusal(model: str, error: TamperedWeights) -> str:
    """The termination message (one line) for weights refused at start."""
    return f"refusing to serve {model}: tampered weights: {error}"

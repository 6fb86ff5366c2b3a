"""The weights manifest (manifest.py): what its digest covers, how it is parsed,
and the Hugging Face published-sha256 check. Table tests on real files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pasture_operator.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    ManifestError,
    build,
    check_published,
    hub_sha256s,
    seal,
)

FILES = {"config.json": b'{"a": 1}', "model.safetensors": b"\x00" * 100, "sub/tok.json": b"{}"}


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_manifest_lists_every_file_with_sha256_and_size(tmp_path: Path) -> None:
    m = build(_tree(tmp_path, FILES))
    assert m.files == {
        rel: FileEntry(hashlib.sha256(data).hexdigest(), len(data)) for rel, data in FILES.items()
    }


def test_digest_is_sha256_of_the_canonical_files(tmp_path: Path) -> None:
    m = build(_tree(tmp_path, FILES))
    canonical = json.dumps(
        {"files": {p: {"sha256": e.sha256, "size": e.size} for p, e in m.files.items()}},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert m.digest == "sha256:" + hashlib.sha256(canonical).hexdigest()
    assert len(m.digest) == len("sha256:") + 64


@pytest.mark.parametrize(
    ("change", "same"),
    [
        (lambda root: None, True),
        # Same names and sizes, other content: today's name+size digest missed this.
        (lambda root: (root / "model.safetensors").write_bytes(b"\x01" * 100), False),
        (lambda root: (root / "extra.bin").write_bytes(b"x"), False),
        (lambda root: (root / "sub/tok.json").unlink(), False),
        (lambda root: (root / "config.json").rename(root / "config2.json"), False),
        # The manifest itself is not part of what it describes.
        (lambda root: (root / MANIFEST_NAME).write_text("{}"), True),
    ],
    ids=["unchanged", "one-byte", "added", "removed", "renamed", "manifest-file"],
)
def test_digest_changes_with_content_not_with_the_manifest(
    tmp_path: Path, change: Any, same: bool
) -> None:
    root = _tree(tmp_path, FILES)
    before = build(root).digest
    change(root)
    assert (build(root).digest == before) is same


def test_seal_writes_a_manifest_that_parses_back(tmp_path: Path) -> None:
    root = _tree(tmp_path, FILES)
    m = seal(root)
    text = (root / MANIFEST_NAME).read_text()
    assert json.loads(text)["digest"] == m.digest
    assert Manifest.from_json(text) == m
    assert build(root) == m  # sealing adds no file to what the manifest covers


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not a valid manifest"),
        ('{"files": {}}', "not a valid manifest"),
        ('{"files": {"a": {"sha256": "00"}}, "digest": "x"}', "not a valid manifest"),
        ('{"files": {}, "digest": "sha256:' + "0" * 64 + '"}', "records digest"),
    ],
    ids=["garbage", "no-digest", "no-size", "wrong-digest"],
)
def test_bad_manifests_are_refused_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(ManifestError, match=says):
        Manifest.from_json(text)


SHA_A = hashlib.sha256(b"\x00" * 100).hexdigest()


@pytest.mark.parametrize(
    ("published", "error"),
    [
        ({}, None),
        ({"model.safetensors": SHA_A}, None),
        ({"model.safetensors": SHA_A.upper()}, None),
        ({"not-downloaded.bin": "f" * 64}, None),  # e.g. an ignored file
        ({"model.safetensors": "f" * 64}, "sha256 mismatch for model.safetensors from org/x@main"),
    ],
    ids=["none", "match", "upper-case", "other-file", "mismatch"],
)
def test_published_sha256_is_checked_where_given(
    tmp_path: Path, published: dict[str, str], error: str | None
) -> None:
    m = build(_tree(tmp_path, FILES))
    if error is None:
        check_published(m, published, "org/x@main")
    else:
        with pytest.raises(ManifestError, match=error):
            check_published(m, published, "org/x@main")


def test_seal_refuses_a_published_mismatch_before_writing(tmp_path: Path) -> None:
    root = _tree(tmp_path, FILES)
    with pytest.raises(ManifestError):
        seal(root, {"config.json": "0" * 64}, "org/x@main")
    assert not (root / MANIFEST_NAME).exists()


def test_hub_sha256s_from_model_info_siblings() -> None:
    from huggingface_hub.hf_api import BlobLfsInfo, RepoSibling

    siblings = [
        RepoSibling(rfilename="config.json", size=10, blob_id="abc"),  # git, no sha256
        RepoSibling(
            rfilename="model.safetensors",
            size=100,
            lfs=BlobLfsInfo(size=100, sha256=SHA_A, pointer_size=130),
        ),
        SimpleNamespace(rfilename="raw.bin", lfs={"sha256": "b" * 64}),  # the API's dict shape
    ]
    assert hub_sha256s(siblings) == {"model.safetensors": SHA_A, "raw.bin": "b" * 64}

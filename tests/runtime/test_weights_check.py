"""The runtime's start-up check of the weights against the downloader's manifest
(weights_check.py): table tests on real files, sealed by the operator's own
manifest writer (the two share only the file format)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pasture_operator.manifest import seal
from pasture_runtime.modelinfo import _manifest_digest
from pasture_runtime.weights_check import MANIFEST_NAME, TamperedWeights, refusal, verify

FILES = {"config.json": b'{"a": 1}', "model.safetensors": b"\x00" * 64, "sub/tok.json": b"{}"}


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, str]:
    for rel, data in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path, seal(tmp_path).digest


def _flip_a_byte(root: Path) -> None:
    data = bytearray((root / "model.safetensors").read_bytes())
    data[10] ^= 0x01
    (root / "model.safetensors").write_bytes(bytes(data))


def _edit_manifest(root: Path) -> None:
    body = json.loads((root / MANIFEST_NAME).read_text())
    body["files"]["config.json"]["size"] = 1
    (root / MANIFEST_NAME).write_text(json.dumps(body))


TAMPERING: list[tuple[str, Callable[[Path], object], str]] = [
    ("one-byte", _flip_a_byte, "model.safetensors has sha256"),
    (
        "truncated",
        lambda r: (r / "config.json").write_bytes(b"{}"),
        "config.json has 2 bytes, not 8",
    ),
    ("removed", lambda r: (r / "sub/tok.json").unlink(), "sub/tok.json is missing"),
    ("added", lambda r: (r / "evil.py").write_text("x"), "evil.py is not in the manifest"),
    ("manifest-edited", _edit_manifest, "was edited"),
    ("manifest-garbage", lambda r: (r / MANIFEST_NAME).write_text("{"), "is unreadable"),
]


@pytest.mark.parametrize(("change", "says"), [(c, s) for _, c, s in TAMPERING],
                         ids=[i for i, _, _ in TAMPERING])  # fmt: skip
def test_tampered_weights_are_refused_with_the_cause(
    sealed: tuple[Path, str], change: Callable[[Path], object], says: str
) -> None:
    root, _ = sealed
    change(root)
    with pytest.raises(TamperedWeights, match=says) as refused:
        verify(str(root))
    line = refusal(str(root), refused.value)
    assert line.startswith(f"refusing to serve {root}: tampered weights: ")
    assert "\n" not in line


def test_untouched_weights_pass_and_give_the_manifest_digest(sealed: tuple[Path, str]) -> None:
    root, digest = sealed
    assert verify(str(root)) == digest
    assert verify(str(root), pinned=digest) == digest
    assert _manifest_digest(root) == digest.removeprefix("sha256:")  # what /api/tags shows


@pytest.mark.parametrize(
    ("enabled", "pinned", "result"),
    [
        (True, None, None),  # no manifest (pvc source, old cache): served unchecked
        (False, None, None),
        (True, "sha256:" + "0" * 64, "has no .pasture-manifest.json"),
    ],
)
def test_weights_without_a_manifest(
    tmp_path: Path, enabled: bool, pinned: str | None, result: str | None
) -> None:
    (tmp_path / "config.json").write_text("{}")
    if result is None:
        assert verify(str(tmp_path), enabled=enabled, pinned=pinned) is None
    else:
        with pytest.raises(TamperedWeights, match=result):
            verify(str(tmp_path), enabled=enabled, pinned=pinned)


def test_the_switch_skips_hashing_but_not_the_pin(sealed: tuple[Path, str]) -> None:
    root, digest = sealed
    _flip_a_byte(root)
    assert verify(str(root), enabled=False) == digest  # very large models: not re-read
    with pytest.raises(TamperedWeights, match="pinned sha256:0000"):
        verify(str(root), enabled=False, pinned="sha256:" + "0" * 64)


def test_a_hub_id_is_not_checked_unless_pinned() -> None:
    assert verify("org/tiny") is None
    with pytest.raises(TamperedWeights, match="not a local directory"):
        verify("org/tiny", pinned="sha256:" + "0" * 64)


def test_the_operators_env_reaches_the_engine_config() -> None:
    from pasture_runtime.config import load_config

    pin = "sha256:" + "0" * 64
    env = {
        "PASTURE_MODEL": "/models/model",
        "PASTURE_ENGINE__VERIFY_WEIGHTS": "false",  # builders/deployment.py writes these
        "PASTURE_ENGINE__WEIGHTS_DIGEST": pin,
    }
    cfg = load_config(env=env).engine
    assert (cfg.verify_weights, cfg.weights_digest) == (False, pin)
    default = load_config(env={"PASTURE_MODEL": "/models/model"}).engine
    assert (default.verify_weights, default.weights_digest) == (True, None)

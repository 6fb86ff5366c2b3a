"""Facts about the served model for /api/tags, /api/ps and /api/show, read
once from the model's config (through the engine) and its files on disk."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .translate.responses import created_at
from .weights_check import MANIFEST_NAME, TamperedWeights, load_manifest


@dataclass(frozen=True)
class ModelInfo:
    architecture: str
    family: str
    parameter_count: int
    context_length: int
    size_bytes: int
    digest: str
    quantization_level: str
    modified_at: str
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def parameter_size(self) -> str:
        n = self.parameter_count
        for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
            if n >= scale:
                return f"{n / scale:.2f}".rstrip("0").rstrip(".") + unit
        return str(n)

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "safetensors",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


def _safetensors_params(files: list[Path]) -> int:
    """Sum tensor sizes from safetensors headers (no weights are read)."""
    total = 0
    for f in files:
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in meta.get("shape", []):
                count *= int(dim)
            total += count
    return total


def _estimate_params(cfg: Any) -> int:
    # For hub ids not on local disk: a decoder-only transformer's rough size.
    h = int(getattr(cfg, "hidden_size", 0) or 0)
    layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
    inter = int(getattr(cfg, "intermediate_size", 0) or 4 * h)
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    return layers * (4 * h * h + 3 * h * inter) + 2 * vocab * h


def _manifest_digest(path: Path) -> str | None:
    """The weights manifest's content digest (what the Model's status.digest says),
    as Ollama shows digests: 64 hex digits, no `sha256:`. None without a manifest."""
    try:
        manifest = load_manifest(path)
    except TamperedWeights:  # refused at start unless verification is off
        return None
    return manifest.digest.removeprefix("sha256:") if manifest else None


def read_model_info(model: str, hf_config: Any, max_model_len: int, dtype: str) -> ModelInfo:
    arch = str(getattr(hf_config, "model_type", "") or "unknown")
    path = Path(model)
    size = 0
    params = 0
    modified = datetime.now(tz=UTC).timestamp()
    digest_src = model.encode()
    manifest_hex = None
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
        size = sum(p.stat().st_size for p in files)
        modified = max((p.stat().st_mtime for p in files), default=modified)
        digest_src = "\n".join(f"{p.relative_to(path)} {p.stat().st_size}" for p in files).encode()
        manifest_hex = _manifest_digest(path)
        try:
            params = _safetensors_params([p for p in files if p.suffix == ".safetensors"])
        except (OSError, ValueError, struct.error):
            params = 0
    if not params:
        params = _estimate_params(hf_config)
    info: dict[str, Any] = {
        "general.architecture": arch,
        "general.parameter_count": params,
        f"{arch}.context_length": max_model_len,
    }
    for key, attr in (
        ("embedding_length", "hidden_size"),
        ("block_count", "num_hidden_layers"),
        ("feed_forward_length", "intermediate_size"),
        ("attention.head_count", "num_attention_heads"),
        ("attention.head_count_kv", "num_key_value_heads"),
        ("vocab_size", "vocab_size"),
    ):
        value = getattr(hf_config, attr, None)
        if isinstance(value, int):
            info[f"{arch}.{key}"] = value
    quant = getattr(hf_config, "quantization_config", None)
    if isinstance(quant, dict) and quant.get("quant_method"):
        level = str(quant["quant_method"]).upper()
    else:
        torch_dtype = str(
            getattr(hf_config, "torch_dtype", None) or getattr(hf_config, "dtype", "")
        )
        level = dtype if dtype != "auto" else torch_dtype
        level = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}.get(
            level.replace("torch.", ""), level.upper() or "unknown"
        )
    return ModelInfo(
        architecture=arch,
        family=arch,
        parameter_count=params,
        context_length=max_model_len,
        size_bytes=size,
        digest=manifest_hex or hashlib.sha256(digest_src).hexdigest(),
        quantization_level=level,
        modified_at=created_at(int(modified * 1e9)),
        model_info=info,
    )

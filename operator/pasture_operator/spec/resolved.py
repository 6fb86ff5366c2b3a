"""A Model resolved into what the runtime needs (reconcile/resolve.py makes it;
the builders and plans read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pasture_operator.constants import ADAPTERS_DIR
from pasture_operator.spec.model import CacheSpec


@dataclass(frozen=True)
class Volume:
    """A PVC the runtime pods mount read-only."""

    name: str
    claim_name: str
    mount_path: str


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # the Model object's name
    served_name: str
    source: dict[str, Any]  # the effective spec.source (after Modelfile FROM)
    source_text: str  # short human form for printer columns
    engine_model: str  # local dir or Hugging Face repo id
    revision: str | None
    hf_token_secret: dict[str, str] | None
    kind: str  # generation | embedding
    engine: dict[str, Any]
    entry: dict[str, Any]  # runtime config models[] entry
    volumes: tuple[Volume, ...] = field(default_factory=tuple)
    cache: CacheSpec | None = None
    # The hub repo and revision for huggingFace and library sources (also when cached).
    hub_repo: str = ""
    hub_revision: str | None = None
    # spec.digest and spec.verifyWeights: what the runtime checks the weights against.
    pinned_digest: str | None = None
    verify_weights: bool = True

    @property
    def needs_hub(self) -> bool:
        """Does serving this model fetch anything from the Hugging Face hub at start?"""
        local = self.cache is not None or "pvc" in self.source
        adapter = self.entry.get("adapter") or {}
        hub_adapter = bool(adapter) and not str(adapter.get("path", "")).startswith(ADAPTERS_DIR)
        return not local or hub_adapter

    @property
    def base_key(self) -> tuple[str, ...]:
        """Two Models share base weights when this matches: the weights' source, not
        the in-pod path (every cached Model's weights are at /models/model in its own
        pods, whatever was downloaded there)."""
        src = self.source
        if "pvc" in src:
            return ("pvc", str(src["pvc"]["claimName"]), str(src["pvc"].get("path") or ""))
        if "url" in src:
            return ("url", str(src["url"]["url"]), str(src["url"].get("sha256") or ""))
        return ("hf", self.hub_repo, self.hub_revision or "main")

"""The /api/show use case: the named model's facts, shaped by translate/show.py."""

from __future__ import annotations

from typing import Any

from ..errors import MODEL_REQUIRED, OllamaError
from ..identity import may_see
from ..names import display_name
from ..state import Runtime
from ..translate import show as tr
from .common import model_capabilities, model_template


def show(rt: Runtime, name: str | None) -> dict[str, Any]:
    if not name:
        raise OllamaError(400, MODEL_REQUIRED)
    entry = rt.registry.lookup(name)
    if entry is None or rt.info is None:
        raise OllamaError(404, f"model '{display_name(name)}' not found")
    template = model_template(rt, entry)
    caps = model_capabilities(rt, entry)
    return tr.show_body(entry, rt.info, rt.config.engine.model, template, caps)


def listed_names(rt: Runtime) -> list[str]:
    """The served names (configured name and aliases) the caller may see."""
    if rt.info is None:
        return []
    return [name for name in rt.registry.listed_names() if may_see(name)]


def list_models(rt: Runtime) -> list[dict[str, Any]]:
    """The /api/tags entries: one per served name the caller may see."""
    info = rt.info
    if info is None:
        return []
    width = info.model_info.get(f"{info.architecture}.embedding_length")
    out = []
    for name in listed_names(rt):
        entry = rt.registry.lookup(name)
        caps = model_capabilities(rt, entry) if entry is not None else []
        out.append(tr.tags_entry(name, info, caps, width if isinstance(width, int) else None))
    return out

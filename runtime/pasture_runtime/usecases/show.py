"""The /api/show use case: the named model's facts, shaped by translate/show.py."""

from __future__ import annotations

from typing import Any

from ..errors import MODEL_REQUIRED, OllamaError
from ..names import display_name
from ..state import Runtime
from ..translate import show as tr
from ..translate.capabilities import ModelFacts, capabilities
from .common import is_multimodal, model_template


def show(rt: Runtime, name: str | None) -> dict[str, Any]:
    if not name:
        raise OllamaError(400, MODEL_REQUIRED)
    entry = rt.registry.lookup(name)
    if entry is None or rt.info is None:
        raise OllamaError(404, f"model '{display_name(name)}' not found")
    template = model_template(rt, entry)
    engine = rt.config.engine
    facts = ModelFacts(
        runner=engine.runner,
        template=template,
        tool_parser=engine.tool_call_parser,
        reasoning_parser=engine.reasoning_parser,
        multimodal=is_multimodal(rt),
    )
    return tr.show_body(entry, rt.info, engine.model, template, capabilities(facts))

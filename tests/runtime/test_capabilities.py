"""translate/capabilities.py: /api/show capabilities from what the runtime can do."""

from __future__ import annotations

import pytest

from pasture_runtime.translate.capabilities import ModelFacts, capabilities

TOOLS_TEMPLATE = "{% if tools %}{{ tools | tojson }}{% endif %}{{ messages }}"
FIM_TEMPLATE = "{% if suffix %}<PRE>{{ prompt }}<SUF>{{ suffix }}<MID>{% endif %}"
PLAIN = "{{ messages }}"


@pytest.mark.parametrize(
    ("facts", "want"),
    [
        (ModelFacts("generate", PLAIN, None, None, False), ["completion"]),
        # A template that renders tools is not enough: calls need a parser.
        (ModelFacts("generate", TOOLS_TEMPLATE, None, None, False), ["completion"]),
        (ModelFacts("generate", PLAIN, "hermes", None, False), ["completion"]),
        (ModelFacts("generate", TOOLS_TEMPLATE, "hermes", None, False), ["completion", "tools"]),
        (ModelFacts("generate", FIM_TEMPLATE, None, None, False), ["completion", "insert"]),
        (ModelFacts("generate", PLAIN, None, None, True), ["completion", "vision"]),
        (ModelFacts("generate", PLAIN, None, "deepseek_r1", False), ["completion", "thinking"]),
        (
            ModelFacts("generate", TOOLS_TEMPLATE + FIM_TEMPLATE, "xlam", "qwen3", True),
            ["completion", "tools", "insert", "vision", "thinking"],
        ),
        # A pooling engine only embeds, whatever else is configured.
        (ModelFacts("pooling", TOOLS_TEMPLATE, "hermes", "qwen3", False), ["embedding"]),
    ],
)
def test_capabilities(facts: ModelFacts, want: list[str]) -> None:
    assert capabilities(facts) == want

"""The reaches into vLLM internals (vllm_adapters.py) against the installed
vLLM, no engine started: an upgrade that moves one fails here, with the vLLM
attribute named, before any engine-backed test runs."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from pasture_runtime import vllm_adapters as adapters

# vLLM's own parsers and tokenizers: the vllm tier (tests/fixtures/tiers.py).
pytestmark = pytest.mark.vllm

PARTS = "{% for m in messages %}{% for p in m['content'] %}{{ p['text'] }}{% endfor %}{% endfor %}"
STRING = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def test_content_format_is_vllms_detection() -> None:
    assert adapters.detect_content_format(PARTS) == "openai"
    assert adapters.detect_content_format(STRING) == "string"


def test_content_format_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr("vllm.renderers.hf._detect_content_format")
    with pytest.raises(adapters.VllmChanged, match=r"vllm\.renderers\.hf\._detect_content_format"):
        adapters.detect_content_format(STRING)


def test_content_format_names_a_changed_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    def moved(template: str) -> str:  # no `default` keyword any more
        return "string"

    monkeypatch.setattr("vllm.renderers.hf._detect_content_format", moved)
    with pytest.raises(adapters.VllmChanged, match=r"signature of vllm\.renderers\.hf"):
        adapters.detect_content_format(STRING)


def test_asyncllm_still_has_the_output_processor_we_read() -> None:
    from vllm.v1.engine.async_llm import AsyncLLM
    from vllm.v1.engine.output_processor import OutputProcessor

    assert "self.output_processor" in inspect.getsource(AsyncLLM.__init__), (
        "vLLM's AsyncLLM no longer sets self.output_processor: "
        "vllm_adapters.num_unfinished_requests must follow it"
    )
    assert callable(getattr(OutputProcessor, "get_num_unfinished_requests", None)), (
        "vLLM's OutputProcessor lost get_num_unfinished_requests: "
        "vllm_adapters.num_unfinished_requests must follow it"
    )


def test_unfinished_requests_names_what_changed() -> None:
    class Processor:
        def get_num_unfinished_requests(self) -> int:
            return 2

    class Llm:
        output_processor: Any = Processor()

    assert adapters.num_unfinished_requests(Llm()) == 2
    Llm.output_processor = None
    with pytest.raises(
        adapters.VllmChanged, match=r"AsyncLLM\.output_processor\.get_num_unfinished_requests"
    ):
        adapters.num_unfinished_requests(Llm())

"""Bounded property-based fuzzing of /v1/messages and /v1/responses over real
HTTP, with test_fuzz.py's machinery: whatever arrives, a 4xx in the
protocol's error shape or a success, never a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import strategies as st

from tests.runtime.harness import Served
from tests.runtime.test_fuzz import JSON, MODEL, _fuzz

pytestmark = pytest.mark.engine

BLOCK = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "tool_use", "tool_result", "thinking"]) | JSON},
    optional={
        "text": JSON, "source": JSON, "id": JSON, "name": JSON, "input": JSON,
        "tool_use_id": JSON, "content": JSON, "thinking": JSON,
    },
)  # fmt: skip
ANTHROPIC_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]) | JSON},
    optional={"content": st.text(max_size=20) | st.lists(BLOCK, max_size=3) | JSON},
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["message", "function_call", "function_call_output", "reasoning"]
        ) | JSON,
        "role": st.sampled_from(["user", "assistant", "system", "developer"]) | JSON,
        "content": st.text(max_size=20) | JSON, "call_id": JSON, "name": JSON,
        "arguments": st.sampled_from(["{}", '{"a":1}', "{"]) | JSON, "output": JSON,
    },
)  # fmt: skip
BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/v1/messages": st.fixed_dictionaries(
        {"model": MODEL, "messages": st.lists(ANTHROPIC_MESSAGE, max_size=3) | JSON},
        optional={
            "system": st.text(max_size=20) | JSON,
            "stream": st.booleans() | JSON,
            "temperature": JSON,
            "top_k": JSON,
            "stop_sequences": JSON,
            "tools": JSON,
            "tool_choice": JSON,
            "thinking": JSON,
            "output_config": JSON,
        },
    ),
    "/v1/responses": st.fixed_dictionaries(
        {"model": MODEL, "max_output_tokens": st.just(3)},
        optional={
            "input": st.text(max_size=20) | st.lists(ITEM, max_size=3) | JSON,
            "instructions": JSON,
            "stream": st.booleans() | JSON,
            "tools": JSON,
            "text": JSON,
            "reasoning": JSON,
            "tool_choice": JSON,
            "temperature": JSON,
            "previous_response_id": JSON,
        },
    ),
}


async def test_no_messages_or_responses_body_gives_a_5xx(server: Served) -> None:
    await asyncio.to_thread(_fuzz, server.url, BODIES)

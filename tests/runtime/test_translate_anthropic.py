"""Unit tests of the pure Anthropic Messages translation (request -> Ollama
chat, Ollama chat -> message and stream events), tables from Ollama's
anthropic/anthropic.go behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_runtime.encoders import sse_named
from pasture_runtime.errors import OllamaError
from pasture_runtime.protocol import anthropic as a
from pasture_runtime.translate import anthropic_request as to_chat
from pasture_runtime.translate import anthropic_response as out

USER = {"role": "user", "content": "hi"}
URL_SOURCE = {"type": "url", "url": "https://example.com/cow.png"}
PNG_SOURCE = {"type": "base64", "media_type": "image/png", "data": "QUJD"}
RESULT = [{"type": "text", "text": "18C"}]


def _chat(can_think: bool = True, **fields: Any) -> dict[str, Any]:
    body = {"model": "m", "max_tokens": 8, "messages": [USER], **fields}
    return to_chat.chat_request(a.MessagesRequest.model_validate(body), can_think)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 8, "messages": [USER]}, "model is required"),
        ({"model": "m", "messages": [USER]}, "max_tokens is required and must be positive"),
        ({"model": "m", "max_tokens": 0, "messages": [USER]}, "max_tokens is required"),
        ({"model": "m", "max_tokens": 8, "messages": []}, "messages is required"),
        (
            {"model": "m", "max_tokens": 8, "messages": [
                {"role": "user", "content": [{"type": "image", "source": URL_SOURCE}]}
            ]},
            "invalid image source type: url. Only base64 images are supported.",
        ),
        (
            {"model": "m", "max_tokens": 8, "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}
            ]},
            "tool_use block missing required 'id' field",
        ),
        (
            {"model": "m", "max_tokens": 8, "messages": [USER],
             "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "web_search tools are not supported",
        ),
    ],
)  # fmt: skip
def test_bad_requests_are_400_in_ollamas_words(body: dict[str, Any], message: str) -> None:
    with pytest.raises(OllamaError) as e:
        to_chat.chat_request(a.MessagesRequest.model_validate(body), True)
    assert e.value.status == 400
    assert message in e.value.message


@pytest.mark.parametrize(
    ("fields", "options"),
    [
        ({}, {"num_predict": 8}),
        ({"temperature": 0.2, "top_p": 0.5, "top_k": 3},
         {"num_predict": 8, "temperature": 0.2, "top_p": 0.5, "top_k": 3}),
        ({"stop_sequences": ["END"]}, {"num_predict": 8, "stop": ["END"]}),
    ],
)  # fmt: skip
def test_sampling_fields_become_options(fields: dict[str, Any], options: dict[str, Any]) -> None:
    assert _chat(**fields)["options"] == options


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("be brief", [{"role": "system", "content": "be brief"}]),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
         [{"role": "system", "content": "ab"}]),
        ("", []),
        (None, []),
    ],
)  # fmt: skip
def test_system_string_or_blocks(system: Any, expected: list[dict[str, Any]]) -> None:
    assert _chat(system=system)["messages"] == [*expected, {"role": "user", "content": "hi"}]


def test_blocks_become_ollama_messages_in_ollamas_order() -> None:
    msgs = [
        {"role": "user", "content": [
            {"type": "text", "text": "look "},
            {"type": "image", "source": PNG_SOURCE},
            {"type": "text", "text": "here"},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "calling"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": RESULT},
            {"type": "text", "text": "and?"},
        ]},
    ]  # fmt: skip
    assert _chat(messages=msgs)["messages"] == [
        {"role": "user", "content": "look here", "images": ["QUJD"]},
        {
            "role": "assistant",
            "content": "calling",
            "thinking": "hmm",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
                }
            ],
        },
        # A user's tool results come before its text; the result names its tool.
        {"role": "tool", "content": "18C", "tool_call_id": "toolu_1", "tool_name": "get_weather"},
        {"role": "user", "content": "and?"},
    ]


def test_tools_and_tool_choice() -> None:
    tool = {"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}}
    fn = {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}
    expected = [{"type": "function", "function": fn}]
    assert _chat(tools=[tool])["tools"] == expected
    assert _chat(tools=[tool], tool_choice={"type": "auto"})["tools"] == expected
    assert _chat(tools=[tool], tool_choice={"type": "none"})["tools"] is None


@pytest.mark.parametrize(
    ("fields", "can_think", "think"),
    [
        ({}, True, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, True, True),
        ({"thinking": {"type": "disabled"}}, True, False),
        # A model that cannot think: dropped, not a 400 (Ollama's relax_thinking).
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, False, None),
        ({"thinking": {"type": "disabled"}}, False, False),
        ({"output_config": {"effort": "low"}}, True, "low"),
        ({"output_config": {"effort": "XHigh"}}, True, "high"),
        ({"output_config": {"effort": "bogus"}}, True, None),
    ],
)
def test_thinking(fields: dict[str, Any], can_think: bool, think: Any) -> None:
    assert _chat(can_think, **fields)["think"] == think


FINAL = {"done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 3}


def test_whole_message_blocks_usage_and_stop_reason() -> None:
    final = {**FINAL, "message": {"role": "assistant", "content": "yes", "thinking": "t"}}
    assert out.message("msg_1", "m", final) == {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [
            {"type": "thinking", "thinking": "t", "signature": ""},
            {"type": "text", "text": "yes"},
        ],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }  # fmt: skip
    call = {"id": "c1", "function": {"name": "f", "arguments": {"x": 1}}}
    called = {**FINAL, "message": {"role": "assistant", "content": "", "tool_calls": [call]}}
    reply = out.message("msg_1", "m", called)
    assert reply["content"] == [{"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}}]
    assert reply["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("reason", "called", "stop"),
    [("stop", False, "end_turn"), ("length", False, "max_tokens"), ("stop", True, "tool_use"),
     ("unload", False, "stop_sequence"), (None, False, None)],
)  # fmt: skip
def test_stop_reason(reason: str | None, called: bool, stop: str | None) -> None:
    assert out.stop_reason(reason, called) == stop


def _kinds(events: list[out.Event]) -> list[str]:
    return [
        name + (":" + str((d.get("delta") or d.get("content_block") or {}).get("type", "")))
        if name.startswith("content_block_") and name != "content_block_stop"
        else name
        for name, d in events
    ]


def test_stream_events_in_ollamas_order() -> None:
    conv = out.StreamConverter("msg_1", "m", input_tokens=5)
    call = {"id": "c1", "function": {"name": "f", "arguments": {"x": 1}}}
    chunks: list[dict[str, Any]] = [
        {"message": {"thinking": "a"}},
        {"message": {"thinking": "b"}},
        {"message": {"content": "x"}},
        {"message": {"content": "y", "tool_calls": [call]}},
        {**FINAL, "message": {"content": ""}},
    ]
    events = [e for c in chunks for e in conv.process(c)]
    assert _kinds(events) == [
        "message_start",
        "content_block_start:thinking", "content_block_delta:thinking_delta",
        "content_block_delta:thinking_delta", "content_block_stop",
        "content_block_start:text", "content_block_delta:text_delta",
        "content_block_delta:text_delta", "content_block_stop",
        "content_block_start:tool_use", "content_block_delta:input_json_delta",
        "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert [d.get("index") for _, d in events[1:-2]] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert events[0][1]["message"]["usage"] == {"input_tokens": 5, "output_tokens": 0}
    assert events[10][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"x": 1}'}
    assert events[9][1]["content_block"]["input"] == {}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == {"input_tokens": 5, "output_tokens": 3}


def test_an_empty_reply_still_starts_and_stops() -> None:
    conv = out.StreamConverter("msg_1", "m", input_tokens=5)
    events = conv.process({**FINAL, "done_reason": "length", "message": {"content": ""}})
    assert [n for n, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1][1]["delta"]["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (404, "not_found_error"), (401, "authentication_error"),
     (503, "overloaded_error"), (500, "api_error")],
)  # fmt: skip
def test_errors_are_anthropic_shaped(status: int, kind: str) -> None:
    assert out.error_body(status, "no") == {
        "type": "error",
        "error": {"type": kind, "message": "no"},
    }


def test_named_sse_event() -> None:
    assert sse_named("ping", {"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'

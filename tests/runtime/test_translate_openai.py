"""Unit tests of the pure OpenAI translation, tool-call shaping and SSE."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pasture_runtime.encoders import SSE_DONE, sse_event
from pasture_runtime.errors import OllamaError
from pasture_runtime.protocol import openai as o
from pasture_runtime.translate import openai_request as to_ollama
from pasture_runtime.translate import openai_response as to_openai
from pasture_runtime.translate.tool_calls import ollama_tool_calls


@pytest.mark.parametrize(
    ("fields", "options"),
    [
        ({}, {}),
        ({"temperature": 0.2, "top_p": 0.5}, {"temperature": 0.2, "top_p": 0.5}),
        ({"max_tokens": 7}, {"num_predict": 7}),
        ({"max_tokens": 7, "max_completion_tokens": 3}, {"num_predict": 3}),
        ({"stop": "END"}, {"stop": ["END"]}),
        ({"stop": ["a", "b"], "seed": 4}, {"stop": ["a", "b"], "seed": 4}),
        ({"repetition_penalty": 1.2, "top_k": 5}, {"repeat_penalty": 1.2, "top_k": 5}),
        (
            {"presence_penalty": 1, "frequency_penalty": -1},
            {"presence_penalty": 1, "frequency_penalty": -1},
        ),
    ],
)
def test_chat_sampling_fields_become_ollama_options(
    fields: dict[str, Any], options: dict[str, Any]
) -> None:
    req = o.ChatCompletionRequest.model_validate({"model": "m", "messages": [], **fields})
    assert to_ollama.chat_request(req)["options"] == options


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (None, None),
        ({"type": "text"}, None),
        ({"type": "json_object"}, "json"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            {"type": "object"},
        ),
    ],
)
def test_response_format_becomes_format(fmt: dict[str, Any] | None, expected: Any) -> None:
    req = o.ChatCompletionRequest.model_validate({"messages": [], "response_format": fmt})
    assert to_ollama.chat_request(req)["format"] == expected


@pytest.mark.parametrize(
    "fmt",
    [{"type": "json_schema", "json_schema": {"name": "x"}}, {"type": "xml"}],
)
def test_bad_response_format_is_400(fmt: dict[str, Any]) -> None:
    req = o.ChatCompletionRequest.model_validate({"messages": [], "response_format": fmt})
    with pytest.raises(OllamaError) as e:
        to_ollama.chat_request(req)
    assert e.value.status == 400


def test_messages_parts_images_tool_calls_and_results() -> None:
    req = o.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "reasoning_effort": "high",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "see "},
                    {"type": "text", "text": "this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                ]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "f", "arguments": '{"a": 1}'}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
        }
    )  # fmt: skip
    body = to_ollama.chat_request(req)
    assert body["think"] == "high"
    assert body["stream"] is False
    user, assistant, tool = body["messages"]
    assert user == {"role": "user", "content": "see this", "images": ["QUJD"]}
    assert assistant["tool_calls"] == [
        {"id": "c1", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}
    ]
    assert tool == {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "c1"}


def test_n_above_one_and_token_prompts_are_refused() -> None:
    with pytest.raises(OllamaError):
        to_ollama.chat_request(o.ChatCompletionRequest.model_validate({"messages": [], "n": 2}))
    with pytest.raises(OllamaError):
        to_ollama.completion_prompts(o.CompletionRequest.model_validate({"prompt": [1, 2, 3]}))
    req = o.CompletionRequest.model_validate({"prompt": ["a", "b"]})
    assert to_ollama.completion_prompts(req) == ["a", "b"]
    gen = to_ollama.generate_request(req, "a")
    assert gen["raw"] is True
    assert gen["options"] == {"num_predict": 16}


@pytest.mark.parametrize(
    ("done_reason", "calls", "finish"),
    [("stop", False, "stop"), ("length", False, "length"), ("stop", True, "tool_calls")],
)
def test_finish_reason(done_reason: str, calls: bool, finish: str) -> None:
    assert to_openai.finish_reason(done_reason, calls) == finish


def test_chat_completion_from_final_with_tool_calls() -> None:
    final = {
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}
            ],
        },
        "done_reason": "stop",
        "prompt_eval_count": 5,
        "eval_count": 3,
    }
    out = to_openai.chat_completion("chatcmpl-1", "m", 10, final)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
        ],
    }
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    delta = to_openai.chat_delta({"message": final["message"]})
    assert delta["tool_calls"][0]["index"] == 0


def test_parser_output_to_ollama_tool_calls() -> None:
    """What vLLM's parsers return (id, name, arguments JSON string) -> Ollama's shape."""
    found = [("call_a", "get_weather", '{"city": "Paris"}'), (None, "noop", ""), (None, "bad", "{")]
    assert ollama_tool_calls(found) == [
        {
            "id": "call_a",
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
        },
        {"id": "call_1", "function": {"index": 1, "name": "noop", "arguments": {}}},
        {"id": "call_2", "function": {"index": 2, "name": "bad", "arguments": {"__raw__": "{"}}},
    ]


@pytest.mark.parametrize(
    ("status", "kind"),
    # Ollama's NewError: 400 invalid_request_error, 404 not_found_error, else
    # api_error; 401 (Pasture's API keys) and other 4xx keep OpenAI's client types.
    [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error"),
     (413, "invalid_request_error"), (500, "api_error"), (503, "api_error")],
)  # fmt: skip
def test_error_body(status: int, kind: str) -> None:
    assert to_openai.error_body(status, "msg", "c") == {
        "error": {"message": "msg", "type": kind, "param": None, "code": "c"}
    }


def test_sse_encoding() -> None:
    assert sse_event({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert SSE_DONE == b"data: [DONE]\n\n"
    assert json.loads(sse_event({"x": 1})[6:]) == {"x": 1}


def test_usage_chunk_and_model_list() -> None:
    use = to_openai.sum_usage([to_openai.usage({"prompt_eval_count": 2, "eval_count": 1})] * 2)
    assert use == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    assert to_openai.usage_chunk("i", "text_completion", "m", 1, use)["choices"] == []
    assert to_openai.model_list(["a:latest"], 5) == {
        "object": "list",
        "data": [{"id": "a:latest", "object": "model", "created": 5, "owned_by": "pasture"}],
    }


@pytest.mark.parametrize(
    ("effort", "think"),
    [
        (None, None),
        ("none", False),
        ("minimal", "low"),  # below Ollama's lowest level: the nearest one, not a 400
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        # Above Ollama's highest level: clamped to "max" (openai.go thinkFromReasoningEffort).
        ("max", "max"),
        ("xhigh", "max"),
        ("ultra", "max"),
    ],
)
def test_reasoning_effort_becomes_think(effort: str | None, think: Any) -> None:
    for body in ({"reasoning_effort": effort}, {"reasoning": {"effort": effort}}):
        req = o.ChatCompletionRequest.model_validate({"messages": [], **body})
        assert to_ollama.chat_request(req)["think"] == think


def test_reasoning_object_wins_over_reasoning_effort() -> None:
    body = {"messages": [], "reasoning": {"effort": "none"}, "reasoning_effort": "high"}
    req = o.ChatCompletionRequest.model_validate(body)
    assert to_ollama.chat_request(req)["think"] is False


def test_unknown_reasoning_effort_is_ollamas_400() -> None:
    req = o.ChatCompletionRequest.model_validate({"messages": [], "reasoning_effort": "extreme"})
    with pytest.raises(OllamaError) as e:
        to_ollama.chat_request(req)
    assert e.value.status == 400
    assert e.value.message == (
        'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", '
        '"xhigh", "ultra", "max", or "none")'
    )


FINAL_CHAT = {
    "message": {
        "role": "assistant",
        "content": "",
        "thinking": "hm",
        "tool_calls": [{"function": {"index": 0, "name": "f", "arguments": {"a": 1}}}],
    },
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 3,
    "eval_count": 2,
}


def test_response_translation_is_pure() -> None:
    """Ids and the clock come in: the same input gives the same output (an
    id-less tool call is named by its index, as translate/tool_calls.py does)."""

    def translate() -> list[dict[str, Any]]:
        return [
            to_openai.chat_completion("chatcmpl-1", "m", 5, FINAL_CHAT),
            to_openai.chat_delta(FINAL_CHAT),
            to_openai.text_completion("cmpl-1", "m", 5, [{"response": "x", "eval_count": 1}]),
            to_openai.text_chunk("cmpl-1", "m", 5, 0, "x", None, True),
        ]

    first = translate()
    assert first == translate()
    completion = first[0]
    assert completion["id"] == "chatcmpl-1"
    assert completion["created"] == 5
    [call] = completion["choices"][0]["message"]["tool_calls"]
    assert call["id"] == "call_0"
    assert first[1]["tool_calls"][0]["id"] == "call_0"


def test_request_translation_is_pure() -> None:
    req = o.ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    )
    assert to_ollama.chat_request(req) == to_ollama.chat_request(req)
    completion = o.CompletionRequest.model_validate({"model": "m", "prompt": ["a", "b"]})
    prompts = to_ollama.completion_prompts(completion)
    assert [to_ollama.generate_request(completion, p) for p in prompts] == [
        to_ollama.generate_request(completion, p) for p in prompts
    ]


def test_a_delta_with_reasoning_and_an_answer_streams_as_two() -> None:
    both = {"content": "a", "reasoning": "r", "reasoning_content": "r"}
    assert to_openai.split_delta(both) == [
        {"reasoning": "r", "reasoning_content": "r"},
        {"content": "a"},
    ]
    assert to_openai.split_delta({"content": "a"}) == [{"content": "a"}]
    assert to_openai.split_delta({"reasoning": "r"}) == [{"reasoning": "r"}]
    assert to_openai.split_delta({}) == [{}]

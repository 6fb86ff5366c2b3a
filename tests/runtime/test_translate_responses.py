"""Unit tests of the pure OpenAI Responses translation (request -> Ollama
chat, Ollama chat -> response object and stream events), tables from
Ollama's openai/responses.go behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_runtime.errors import OllamaError
from pasture_runtime.protocol import responses as r
from pasture_runtime.translate import responses_request as to_chat
from pasture_runtime.translate import responses_response as out
from pasture_runtime.translate.responses_stream import ResponsesStream

IDS = out.Ids("resp_abc", 100)
FINAL = {"done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 3}
OK_TEXT = {"type": "output_text", "text": "ok"}
OSLO = '{"city":"Oslo"}'
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def _req(**fields: Any) -> r.ResponsesRequest:
    return r.ResponsesRequest.model_validate({"model": "m", "input": "hi", **fields})


def _chat(**fields: Any) -> dict[str, Any]:
    return to_chat.chat_request(_req(**fields))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": None}, "model is required"),
        ({"previous_response_id": "resp_1"}, "previous_response_id is not supported"),
        ({"conversation": "conv_1"}, "conversation is not supported"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
         "file inputs are not currently supported"),
        ({"input": [{"type": "bogus"}]}, 'input[0]: unknown input item type: "bogus"'),
        ({"input": [{"content": "x"}]}, "input[0]: input item missing required 'type' field"),
        ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}]},
         "failed to parse function call arguments"),
        ({"tools": [{"type": "web_search"}]}, "web_search tools are not supported"),
        ({"tools": [{"type": "file_search"}]}, "unsupported tool type: 'file_search'"),
        ({"reasoning": {"effort": "huge"}}, 'invalid reasoning value: "huge"'),
        ({"input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/a.png"}]}]},
         "image URLs are not supported"),
    ],
)  # fmt: skip
def test_bad_requests_are_400(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(OllamaError) as e:
        _chat(**fields)
    assert e.value.status == 400
    assert message in e.value.message


@pytest.mark.parametrize(
    ("fields", "options"),
    [
        ({}, {"temperature": 1.0}),  # Ollama's default for Responses
        ({"temperature": 0, "top_p": 0.5, "max_output_tokens": 9},
         {"temperature": 0, "top_p": 0.5, "num_predict": 9}),
    ],
)  # fmt: skip
def test_sampling_fields(fields: dict[str, Any], options: dict[str, Any]) -> None:
    assert _chat(**fields)["options"] == options


@pytest.mark.parametrize(
    ("effort", "think"),
    [(None, None), ("none", False), ("minimal", "low"), ("low", "low"), ("high", "high"),
     ("max", "max"), ("xhigh", "max"), ("ultra", "max")],
)  # fmt: skip
def test_reasoning_effort(effort: str | None, think: Any) -> None:
    assert _chat(reasoning={"effort": effort})["think"] == think


def test_input_items_become_ollama_messages() -> None:
    items = [
        {"role": "user", "content": [
            {"type": "input_text", "text": "look "},
            {"type": "input_image", "image_url": "data:image/png;base64,QUJD"},
        ]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "hmm"},
        {"type": "message", "role": "assistant", "content": [OK_TEXT]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": OSLO},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
    ]  # fmt: skip
    assert _chat(instructions="be brief", input=items)["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "look ", "images": ["QUJD"]},
        {
            "role": "assistant",
            "content": "ok",
            "thinking": "hmm",
            "tool_calls": [
                {"id": "c1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "c1", "tool_name": "get_weather"},
    ]


def test_tools_format_and_tool_choice() -> None:
    fn = {"name": "get_weather", "description": "", "parameters": {"type": "object"}}
    assert _chat(tools=[WEATHER])["tools"] == [{"type": "function", "function": fn}]
    assert _chat(tools=[WEATHER], tool_choice="none")["tools"] is None
    ns = {"type": "namespace", "name": "wx", "tools": [WEATHER]}
    assert _chat(tools=[ns])["tools"][0]["function"]["name"] == "wx.get_weather"
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    text = {"format": {"type": "json_schema", "name": "x", "schema": schema}}
    assert _chat(text=text)["format"] == schema
    assert _chat(text={"format": {"type": "text"}})["format"] is None


def test_whole_response() -> None:
    final = {**FINAL, "message": {"content": "yes", "thinking": "t"}}
    body = out.response(_req(instructions="be"), IDS, final, now=101)
    assert body["id"] == "resp_abc"
    assert body["object"] == "response"
    assert (body["status"], body["created_at"], body["completed_at"]) == ("completed", 100, 101)
    assert body["instructions"] == "be"
    assert body["previous_response_id"] is None
    assert [i["type"] for i in body["output"]] == ["reasoning", "message"]
    assert body["output"][0]["summary"] == [{"type": "summary_text", "text": "t"}]
    assert body["output"][1]["content"][0] == {
        "type": "output_text", "text": "yes", "annotations": [], "logprobs": []
    }  # fmt: skip
    assert body["usage"]["input_tokens"] == 5
    assert body["usage"]["total_tokens"] == 8
    call = {"id": "c1", "function": {"name": "f", "arguments": {"x": 1}}}
    called = out.response(_req(), IDS, {**FINAL, "message": {"tool_calls": [call]}}, 101)
    assert called["output"] == [
        {"id": "fc_abc_0", "type": "function_call", "status": "completed",
         "call_id": "c1", "name": "f", "arguments": '{"x": 1}'}
    ]  # fmt: skip


def _events(chunks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    stream = ResponsesStream(_req(), IDS)
    return [e for c in chunks for e in stream.process(c, now=101)]


def test_stream_text_in_ollamas_order() -> None:
    events = _events([
        {"message": {"thinking": "t"}},
        {"message": {"content": "a"}},
        {"message": {"content": "b"}},
        {**FINAL, "message": {"content": ""}},
    ])  # fmt: skip
    assert [n for n, _ in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed",
    ]  # fmt: skip
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert events[10][1]["text"] == "ab"
    assert events[10][1]["output_index"] == 1
    done = events[-1][1]["response"]
    assert done["status"] == "completed"
    assert [i["type"] for i in done["output"]] == [
        "reasoning",
        "message",
    ]
    assert done["output"][1]["content"][0]["text"] == "ab"


def test_stream_function_calls() -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": {"x": 1}}}
    events = _events([{"message": {"tool_calls": [call]}}, {**FINAL, "message": {}}])
    assert [n for n, _ in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert events[2][1]["item"]["status"] == "in_progress"
    assert events[3][1]["delta"] == '{"x": 1}'
    assert events[4][1]["arguments"] == '{"x": 1}'
    assert events[-1][1]["response"]["output"] == [events[5][1]["item"]]

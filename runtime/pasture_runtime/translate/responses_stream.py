"""Ollama chat chunks -> OpenAI Responses stream events, in the names and
order of Ollama's ResponsesStreamConverter (openai/responses.go):
`response.created`, `response.in_progress`; per item `response.output_item.added`
... `response.output_item.done` (a reasoning item with
`response.reasoning_summary_text.delta/done`; the message with
`response.content_part.added`, `response.output_text.delta`,
`response.output_text.done`, `response.content_part.done`; each function call
with `response.function_call_arguments.delta/done`); `response.completed`.
Every event carries `type` and `sequence_number`. Pure."""

from __future__ import annotations

import json
from typing import Any

from ..protocol import responses as r
from . import responses_response as out

Event = out.Event


class ResponsesStream:
    def __init__(self, req: r.ResponsesRequest, ids: out.Ids) -> None:
        self.req = req
        self.ids = ids
        self._seq = 0
        self._index = 0  # output_index of the item being streamed
        self._done: list[dict[str, Any]] = []  # finished output items, in order
        self._thinking: str | None = None  # the open reasoning item's text
        self._text: str | None = None  # the open message item's text
        self._calls = 0

    def _event(self, name: str, **data: Any) -> Event:
        event = {"type": name, "sequence_number": self._seq, **data}
        self._seq += 1
        return name, event

    def _item_done(self, item: dict[str, Any]) -> Event:
        self._done.append(item)
        self._index += 1
        return self._event("response.output_item.done", output_index=self._index - 1, item=item)

    def start(self) -> list[Event]:
        obj = out.response_object(self.req, self.ids, "in_progress", [], None)
        return [
            self._event("response.created", response=obj),
            self._event("response.in_progress", response=obj),
        ]

    def _reason(self, delta: str) -> list[Event]:
        events = []
        rid, index = self.ids.reasoning, self._index
        if self._thinking is None:
            self._thinking = ""
            item = {"id": rid, "type": "reasoning", "summary": []}
            events.append(self._event("response.output_item.added", output_index=index, item=item))
        self._thinking += delta
        where = {"item_id": rid, "output_index": index, "summary_index": 0}
        events.append(self._event("response.reasoning_summary_text.delta", **where, delta=delta))
        return events

    def _end_reasoning(self) -> list[Event]:
        if self._thinking is None:
            return []
        text, self._thinking = self._thinking, None
        where = {"item_id": self.ids.reasoning, "output_index": self._index, "summary_index": 0}
        done = self._event("response.reasoning_summary_text.done", **where, text=text)
        return [done, self._item_done(out.reasoning_item(self.ids.reasoning, text))]

    def _write(self, delta: str) -> list[Event]:
        events = self._end_reasoning()
        mid, index = self.ids.message, self._index
        where = {"item_id": mid, "output_index": index, "content_index": 0}
        if self._text is None:
            self._text = ""
            item = out.message_item(mid, "", "in_progress")
            events.append(self._event("response.output_item.added", output_index=index, item=item))
            events.append(
                self._event("response.content_part.added", **where, part=out.output_text_part(""))
            )
        self._text += delta
        events.append(self._event("response.output_text.delta", **where, delta=delta, logprobs=[]))
        return events

    def _end_message(self) -> list[Event]:
        if self._text is None:
            return []
        text, self._text = self._text, None
        where = {"item_id": self.ids.message, "output_index": self._index, "content_index": 0}
        return [
            self._event("response.output_text.done", **where, text=text, logprobs=[]),
            self._event("response.content_part.done", **where, part=out.output_text_part(text)),
            self._item_done(out.message_item(self.ids.message, text)),
        ]

    def _call(self, call: dict[str, Any]) -> list[Event]:
        events = self._end_reasoning() + self._end_message()
        fid, index = self.ids.call(self._calls), self._index
        self._calls += 1
        args = json.dumps((call.get("function") or {}).get("arguments") or {})
        added = out.call_item(fid, call, "in_progress")
        where = {"item_id": fid, "output_index": index}
        events.append(self._event("response.output_item.added", output_index=index, item=added))
        events.append(self._event("response.function_call_arguments.delta", **where, delta=args))
        events.append(self._event("response.function_call_arguments.done", **where, arguments=args))
        events.append(self._item_done(out.call_item(fid, call)))
        return events

    def process(self, chunk: dict[str, Any], now: int) -> list[Event]:
        """The events of one Ollama chat chunk; the final one completes the response.
        Text after a function call is dropped, as Ollama does (the calls are the answer)."""
        events = self.start() if self._seq == 0 else []
        msg = chunk.get("message") or {}
        if msg.get("thinking"):
            events.extend(self._reason(msg["thinking"]))
        if msg.get("content") and not self._calls:
            events.extend(self._write(msg["content"]))
        for call in msg.get("tool_calls") or []:
            events.extend(self._call(call))
        if chunk.get("done"):
            events.extend(self._end_reasoning() + self._end_message())
            obj = out.response_object(
                self.req, self.ids, "completed", self._done, out.usage(chunk), now
            )
            events.append(self._event("response.completed", response=obj))
        return events

    def failed(self, status: int, message: str) -> Event:
        """The event that ends a stream that failed after it began."""
        code = "server_error" if status >= 500 else "invalid_request"
        return self._event("error", code=code, message=message, param=None)

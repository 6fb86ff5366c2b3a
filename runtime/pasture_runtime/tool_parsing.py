"""vLLM's tool-call parsers, driven the way vLLM's own chat server drives them:
its `Parser` (ParserManager's composition, here of the tool parser alone; our
reasoning split runs before) with `parse` for a finished output, and one
instance per request with `parse_delta` for a streamed one.

Part of the engine layer (it imports vLLM); Engine.parse_tool_calls and
Engine.tool_call_stream are its face to the use cases."""

from __future__ import annotations

import functools
import logging
from typing import Any

from .translate import tool_stream

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _tool_parser_class(name: str) -> Any:
    from vllm.parser import ParserManager

    parser_cls = ParserManager.get_parser(tool_parser_name=name, enable_auto_tools=True)
    if parser_cls is None:
        raise ValueError(f"no tool parser {name!r}")
    return parser_cls


def _tools_request(tools: list[dict[str, Any]]) -> Any:
    """Parsers read the offered tools (names, schemas) from vLLM's own request type."""
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    return ChatCompletionRequest.model_validate(
        {"model": "pasture", "messages": [], "tools": tools}
    )


def parse_tool_calls(
    parser: str,
    tokenizer: Any,
    text: str,
    tools: list[dict[str, Any]],
    model_config: Any = None,
) -> tuple[str | None, list[tuple[str | None, str, str]]]:
    """(content left, [(call id, function name, arguments JSON)]) of a finished
    output, by vLLM's parser `parser`; the text as content if the parser fails."""
    try:
        request = _tools_request(tools)
        instance = _tool_parser_class(parser)(tokenizer, request.tools, model_config=model_config)
        _, content, calls = instance.parse(text, request, enable_auto_tools=True)
    except Exception:  # a parser bug must not lose the model's answer
        log.exception("tool parser %s failed; returning the text as content", parser)
        return text, []
    if not calls:
        return text if content is None else content, []
    return content, [(c.id, c.name, c.arguments) for c in calls]


class ToolCallStream:
    """One streamed request's tool calls. `feed` each delta of content (the
    answer: no reasoning trace) and get back the content to send and the calls
    completed by it; `finish` at the end gives the rest.

    Should the streaming parser fail (or not start), the rest of the output is
    held back and `finish` gives what the whole-text parse finds in it: the
    same answer a non-streaming request gets, never a lost one."""

    def __init__(
        self,
        parser: str,
        tokenizer: Any,
        tools: list[dict[str, Any]],
        prompt_ids: list[int],
        model_config: Any = None,
    ) -> None:
        self.name = parser
        self._tokenizer = tokenizer
        self._tools = tools
        self._prompt_ids = prompt_ids
        self._model_config = model_config
        self._texts: list[str] = []
        self._sent: list[str] = []
        self._calls = tool_stream.CallAccumulator()
        self._finished = False
        self._parser: Any = None
        try:
            self._request = _tools_request(tools)
            self._parser = _tool_parser_class(parser)(
                tokenizer, self._request.tools, model_config=model_config
            )
        except Exception:
            log.exception("streaming tool parser %s did not start; holding the output back", parser)

    def feed(
        self, text: str, token_ids: list[int], final: bool = False
    ) -> tuple[str, list[tool_stream.Call]]:
        """One delta (`final`: the engine's last); (content to send, calls completed)."""
        self._texts.append(text)
        if self._parser is None or self._finished:
            return "", []
        self._finished = final
        try:
            delta = self._parser.parse_delta(
                text,
                list(token_ids),
                self._request,
                prompt_token_ids=self._prompt_ids,
                finished=final,
            )
        except Exception:
            log.exception("streaming tool parser %s failed; holding the rest back", self.name)
            self._parser = None
            return "", []
        if delta is None:
            return "", []
        content = delta.content or ""
        self._sent.append(content)
        fragments = [
            (
                int(tc.index),
                tc.id,
                tc.function.name if tc.function else None,
                tc.function.arguments if tc.function else None,
            )
            for tc in delta.tool_calls or []
        ]
        return content, self._calls.add(fragments)

    def finish(self) -> tuple[str, list[tool_stream.Call]]:
        """The output ended: (content still to send, calls still to send)."""
        content = ""
        calls: list[tool_stream.Call] = []
        if not self._finished and self._parser is not None:
            content, calls = self.feed("", [], final=True)
        text = "".join(self._texts)
        left, found = parse_tool_calls(
            self.name, self._tokenizer, text, self._tools, self._model_config
        )
        rest, remaining = tool_stream.reconcile(
            "".join(self._sent),
            self._calls.emitted,
            self._calls.pending(),
            left or "",
            [tool_stream.Call(*c) for c in found],
        )
        self._parser = None
        return content + rest, calls + remaining

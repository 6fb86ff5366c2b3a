"""Streamed tool calls: a streaming tool parser's fragments -> whole calls. Pure.

vLLM's streaming tool parsers (driven in tool_parsing.py) return, per delta, some
content and/or fragments of calls (OpenAI's `DeltaToolCall`: an index, and
maybe an id, a name, a piece of the arguments JSON). Ollama sends each call
whole, as soon as it is complete: here fragments are joined per index, and a
call counts as complete when a later index starts or the output ends.

At the end, what is left is checked against the parser's whole-text parse
(the one a non-streaming request gets), so that the same text gives the same
answer either way wherever that is still possible (see `reconcile`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Call:
    """One tool call: (id, function name, arguments as a JSON string)."""

    id: str | None
    name: str
    arguments: str

    def astuple(self) -> tuple[str | None, str, str]:
        return self.id, self.name, self.arguments


# One DeltaToolCall: (index, id, name fragment, arguments fragment).
Fragment = tuple[int, str | None, str | None, str | None]


class CallAccumulator:
    """Joins fragments per index; hands out calls once they are complete, in
    index order, each exactly once."""

    def __init__(self) -> None:
        self._open: dict[int, Call] = {}
        self._done: set[int] = set()  # parser indices already handed out
        self.emitted: list[Call] = []

    def add(self, fragments: Iterable[Fragment]) -> list[Call]:
        """Take one delta's fragments; return the calls this completed."""
        for index, ident, name, arguments in fragments:
            if index in self._done:
                # Only a parser bug sends more for a call after a later one
                # started; it has been sent, so this cannot change it.
                log.warning("tool parser sent more of call %d after it was complete", index)
                continue
            call = self._open.setdefault(index, Call(None, "", ""))
            if ident and not call.id:
                call.id = ident
            call.name += name or ""
            call.arguments += arguments or ""
        if not self._open:
            return []
        latest = max(self._open)
        return self._emit([i for i in sorted(self._open) if i < latest])

    def pending(self) -> list[Call]:
        """Calls started but not yet handed out, in index order."""
        return [self._open[i] for i in sorted(self._open)]

    def finish(self) -> list[Call]:
        """The output ended: every open call is complete."""
        return self._emit(sorted(self._open))

    def _emit(self, indices: list[int]) -> list[Call]:
        calls = [self._open.pop(i) for i in indices]
        self._done.update(indices)
        self.emitted.extend(calls)
        return calls


def reconcile(
    sent_content: str,
    emitted: list[Call],
    pending: list[Call],
    whole_content: str,
    whole_calls: list[Call],
) -> tuple[str, list[Call]]:
    """What to send at the end of a streamed output: (more content, the
    remaining calls), given what was already sent and the whole-text parse.

    Content and calls already sent cannot be taken back. The rest follows the
    whole-text parse where it agrees with what was sent: the content that
    parse finds beyond what was streamed (a tail the streaming parser still
    held back, or everything after the streaming parser failed), and the calls
    it finds beyond the ones sent (when their names match). Otherwise the
    streaming parser's own open calls are sent as they are."""
    rest = whole_content[len(sent_content) :] if whole_content.startswith(sent_content) else ""
    sent_names = [c.name for c in emitted]
    if sent_names == [c.name for c in whole_calls[: len(emitted)]]:
        return rest, whole_calls[len(emitted) :]
    return rest, pending

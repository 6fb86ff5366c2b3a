"""`think` and the reasoning trace. Pure.

The finished text is split by vLLM's reasoning parser (engine.py). While
streaming, this module's splitter cuts the text at the same parser's
start/end markers as it arrives, holding back a tail that could be the start
of a marker, so a marker split over two deltas is still found. Like vLLM's
`<think>` parsers it treats text before any end marker as reasoning (models
whose template opens the `<think>` themselves never write it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import OllamaError

LEVELS = ("low", "medium", "high", "max")
# Current Ollama's words (api/types.go ThinkValue.UnmarshalJSON).
_ALLOWED = '("high", "medium", "low", "max", true, or false)'


def check_think(think: Any) -> None:
    """Ollama's ThinkValue: a boolean or one of the effort levels."""
    if think is None or isinstance(think, bool) or think in LEVELS:
        return
    if think in ("true", "false", ""):  # lenient, as the rest of the API
        return
    if not isinstance(think, str):
        raise OllamaError(400, f"think must be a boolean or string {_ALLOWED}")
    quoted = json.dumps(think, ensure_ascii=False)  # Go's %q, for what clients send
    raise OllamaError(400, f"invalid think value: {quoted} (must be {_ALLOWED[1:-1]})")


def effort(think: Any) -> str | None:
    """The effort level Ollama gives a template: `true` is "medium"; "max" is
    "high" for templates that know low/medium/high only (as Ollama maps it
    for harmony's Reasoning)."""
    if think is True or think == "true":
        return "medium"
    if think in LEVELS:
        return "high" if think == "max" else str(think)
    return None


def hides_thinking(think: Any) -> bool:
    """`think: false` asks for the answer without its trace."""
    return think is False or think == "false"


def template_variables(think: Any) -> dict[str, Any]:
    """What chat templates read to turn thinking on/off (Qwen3's
    `enable_thinking`, others' `thinking`) and its effort level."""
    if think is None or think == "":
        return {}
    enabled = not hides_thinking(think)
    out: dict[str, Any] = {"enable_thinking": enabled, "thinking": enabled}
    level = effort(think)
    if level:
        out["reasoning_effort"] = level
    return out


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `marker`."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


@dataclass
class StreamSplitter:
    start: str
    end: str
    in_thinking: bool = True
    _buf: str = ""
    _seen_any: bool = field(default=False, repr=False)

    def feed(self, text: str) -> tuple[str, str]:
        """(thinking, content) ready to send for this delta."""
        self._buf += text
        thinking, content = [], []
        while self._buf:
            if self.in_thinking:
                if not self._seen_any and self._buf.startswith(self.start):
                    self._buf = self._buf[len(self.start) :]  # the opening marker itself
                    self._seen_any = True
                    continue
                if not self._seen_any and self.start.startswith(self._buf):
                    break  # maybe the opening marker, not complete yet
                self._seen_any = True
                at = self._buf.find(self.end)
                if at >= 0:
                    thinking.append(self._buf[:at])
                    self._buf = self._buf[at + len(self.end) :]
                    self.in_thinking = False
                    continue
                keep = _partial_suffix(self._buf, self.end)
                thinking.append(self._buf[: len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep :]
                break
            content.append(self._buf)
            self._buf = ""
        return "".join(thinking), "".join(content)

    def flush(self) -> tuple[str, str]:
        """What was held back, at the end of the output."""
        rest, self._buf = self._buf, ""
        return (rest, "") if self.in_thinking else ("", rest)

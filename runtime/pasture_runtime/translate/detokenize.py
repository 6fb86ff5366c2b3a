"""What vLLM's incremental detokenizer still holds when a request ends.

vLLM turns output tokens into text with a decode stream that holds back a
token whose bytes end in an incomplete UTF-8 sequence (it waits for the rest
of the character). When the output ends there (the length limit, or a one-
token reply), vLLM never flushes it: those bytes, and any text decoded with
them, are lost, and a reply with eval_count 1 can have no content at all.

The held text is what a whole decode of the output has beyond the text
streamed so far; the tokenizer's decode replaces the incomplete sequence
with U+FFFD, as Ollama's detokenizer does at the end of a reply."""

from __future__ import annotations


def held_back(emitted: str, decoded: str) -> str:
    """The tail of `decoded` (all output ids decoded at once) that `emitted`
    (the streamed text) lacks; "" when the two do not line up, so nothing but
    the missing tail is ever added.

    A whole decode may differ from the streamed text in its first space
    (sentencepiece decoders drop the leading space of a sequence's first
    token; the stream, primed with the prompt, keeps it): both ways line up."""
    if decoded.startswith(emitted):
        return decoded[len(emitted) :]
    if emitted.startswith(" ") and decoded.startswith(emitted[1:]):
        return decoded[len(emitted) - 1 :]
    if decoded.startswith(" ") and decoded[1:].startswith(emitted):
        return decoded[len(emitted) + 1 :]
    return ""

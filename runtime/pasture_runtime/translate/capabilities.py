"""`/api/show` capabilities, from what this runtime can really do. Pure.

Ollama derives them from the model (server/images.go `Capabilities`); here
each one also needs the runtime piece that makes it work: "tools" needs a
template that renders tools AND a tool parser (without one, calls would come
back as plain text), "thinking" needs a reasoning parser. Same order as
Ollama: completion|embedding, tools, insert, vision, thinking."""

from __future__ import annotations

from dataclasses import dataclass

from .prompt import supports_suffix, supports_tools


@dataclass(frozen=True)
class ModelFacts:
    runner: str  # "generate" | "pooling"
    template: str  # the chat template in effect for the name
    tool_parser: str | None
    reasoning_parser: str | None
    multimodal: bool


def capabilities(facts: ModelFacts) -> list[str]:
    if facts.runner == "pooling":
        return ["embedding"]  # a pooling engine cannot generate at all
    caps = ["completion"]
    if facts.tool_parser and supports_tools(facts.template):
        caps.append("tools")
    if supports_suffix(facts.template):
        caps.append("insert")
    if facts.multimodal:
        caps.append("vision")
    if facts.reasoning_parser:
        caps.append("thinking")
    return caps

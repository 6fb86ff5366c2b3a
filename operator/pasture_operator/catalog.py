"""The built-in catalog: Ollama library names -> Hugging Face repositories.

Small on purpose (documented in docs/operator.md); anything else can name its
Hugging Face repo directly. A name without a tag means ":latest", which maps
to the same entry Ollama's library makes the default.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class CatalogEntry(NamedTuple):
    repo: str
    revision: str = "main"


CATALOG: Final[dict[str, CatalogEntry]] = {
    "llama3.2:1b": CatalogEntry("meta-llama/Llama-3.2-1B-Instruct"),
    "llama3.2:3b": CatalogEntry("meta-llama/Llama-3.2-3B-Instruct"),
    "llama3.2:latest": CatalogEntry("meta-llama/Llama-3.2-3B-Instruct"),
    "llama3.1:8b": CatalogEntry("meta-llama/Llama-3.1-8B-Instruct"),
    "llama3.1:latest": CatalogEntry("meta-llama/Llama-3.1-8B-Instruct"),
    "qwen2.5:0.5b": CatalogEntry("Qwen/Qwen2.5-0.5B-Instruct"),
    "qwen2.5:1.5b": CatalogEntry("Qwen/Qwen2.5-1.5B-Instruct"),
    "qwen2.5:7b": CatalogEntry("Qwen/Qwen2.5-7B-Instruct"),
    "qwen2.5:latest": CatalogEntry("Qwen/Qwen2.5-7B-Instruct"),
    "qwen3:0.6b": CatalogEntry("Qwen/Qwen3-0.6B"),
    "qwen3:8b": CatalogEntry("Qwen/Qwen3-8B"),
    "qwen3:latest": CatalogEntry("Qwen/Qwen3-8B"),
    "mistral:7b": CatalogEntry("mistralai/Mistral-7B-Instruct-v0.3"),
    "mistral:latest": CatalogEntry("mistralai/Mistral-7B-Instruct-v0.3"),
    "gemma2:2b": CatalogEntry("google/gemma-2-2b-it"),
    "gemma3:1b": CatalogEntry("google/gemma-3-1b-it"),
    "phi3:mini": CatalogEntry("microsoft/Phi-3-mini-4k-instruct"),
    "smollm2:135m": CatalogEntry("HuggingFaceTB/SmolLM2-135M-Instruct"),
    "smollm2:360m": CatalogEntry("HuggingFaceTB/SmolLM2-360M-Instruct"),
    "deepseek-r1:1.5b": CatalogEntry("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
    "nomic-embed-text:latest": CatalogEntry("nomic-ai/nomic-embed-text-v1.5"),
    "all-minilm:latest": CatalogEntry("sentence-transformers/all-MiniLM-L6-v2"),
}


def normalize(name: str) -> str:
    """'llama3.2' -> 'llama3.2:latest'; names are case-insensitive in Ollama."""
    name = name.strip().lower()
    return name if ":" in name else f"{name}:latest"


def resolve(name: str) -> CatalogEntry | None:
    """The Hugging Face repo for a library name, or None when unknown."""
    return CATALOG.get(normalize(name))

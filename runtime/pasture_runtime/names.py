"""Ollama model names: `[host/][namespace/]model[:tag]`, tag `latest` by default,
looked up case-insensitively. One served model may answer to several names."""

from __future__ import annotations

from pasture_access.names import normalize

from .config import ModelEntry

__all__ = ["ModelRegistry", "normalize"]


class ModelRegistry:
    """The names this runtime answers to, each mapped to its model entry."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self.entries = entries
        self._by_name: dict[str, ModelEntry] = {}
        for entry in entries:
            for name in (entry.name, *entry.aliases):
                self._by_name.setdefault(normalize(name), entry)

    @property
    def primary(self) -> ModelEntry:
        return self.entries[0]

    def lookup(self, name: str) -> ModelEntry | None:
        if not name or not name.strip():
            return None
        return self._by_name.get(normalize(name))

    def listed_names(self) -> list[str]:
        """Every served name in listing form (`name:tag`), configured order."""
        seen: list[str] = []
        for entry in self.entries:
            for name in (entry.name, *entry.aliases):
                n = display_name(name)
                if n not in seen:
                    seen.append(n)
        return seen


def display_name(name: str) -> str:
    """`tiny` -> `tiny:latest`, case kept (Ollama lists names with the tag)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"

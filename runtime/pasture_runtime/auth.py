"""Optional API keys. Ollama has none (its users put proxies in front); when a
key file is configured every API route needs `Authorization: Bearer <key>`.
The file is the gateway's format (pasture_access: the plain list, or YAML
identities with each key's sha256), re-read when it changes, so keys rotate
without a restart. Without keys the runtime is open, as Ollama is."""

from __future__ import annotations

import os

from pasture_access import keys
from pasture_access.keys import credentials

from .identity import ANONYMOUS

__all__ = ["ApiKeys", "credentials"]


class ApiKeys(keys.ApiKeys):
    def __init__(self, path: str | None, env_keys: str | None = None) -> None:
        super().__init__(path, env_keys, ANONYMOUS)


def from_env(path: str | None) -> ApiKeys:
    return ApiKeys(path, os.environ.get("PASTURE_API_KEYS"))

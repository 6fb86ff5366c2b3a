"""The gateway's API keys: pasture_access's (the key file, shared with the
runtime, re-read when it changes) plus PASTURE_API_KEYS; without any, a caller
is the gateway's ANONYMOUS (inference only). The same class holds the
internal key the gateway presents to runtimes (--upstream-key-file, plain
format)."""

from __future__ import annotations

from pasture_access import keys
from pasture_access.keys import credentials

from .identity import ANONYMOUS

__all__ = ["ApiKeys", "credentials"]


class ApiKeys(keys.ApiKeys):
    def __init__(self, path: str | None, env_keys: str | None = None) -> None:
        super().__init__(path, env_keys, ANONYMOUS)

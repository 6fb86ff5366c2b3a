"""Optional API keys. Ollama has none (its users put proxies in front); when a
key file is configured every API route needs `Authorization: Bearer <key>`.
The file (keyfile.py: the plain list, or the gateway's YAML identities with
each key's sha256) is re-read when it changes, so keys rotate without a
restart; a file that stops parsing keeps the last good version. A presented
key is hashed and compared with every entry in constant time, never logged."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

from . import keyfile
from .identity import ANONYMOUS, Identity
from .keyfile import KeyBook, KeyFileError

log = logging.getLogger(__name__)


class ApiKeys:
    def __init__(self, path: str | None, env_keys: str | None = None) -> None:
        self.path = Path(path) if path else None
        self._env = keyfile.parse("\n".join(k.strip() for k in (env_keys or "").split(",")))
        self._file = KeyBook()
        self._stamp: tuple[int, int, int] | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None or bool(self._env.entries)

    def _entries(self) -> tuple[tuple[bytes, Identity], ...]:
        if self.path is not None:
            try:
                st = self.path.stat()
            except OSError:
                st = None  # keep the last good keys if it vanishes
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino) if st else self._stamp
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._file = keyfile.parse(self.path.read_text())
                except (OSError, KeyFileError) as e:
                    log.error("key file %s not loaded, keeping the previous keys: %s", self.path, e)
        return self._env.entries + self._file.entries

    def identify(self, authorization: str | None) -> Identity | None:
        """The key's identity (ANONYMOUS when no keys are configured), or None."""
        if not self.enabled:
            return ANONYMOUS
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        given = hashlib.sha256(authorization[7:].strip().encode()).hexdigest().encode()
        found: Identity | None = None
        for digest, identity in self._entries():  # every entry: no early exit
            if hmac.compare_digest(given, digest) and found is None:
                found = identity
        return found

    def check(self, authorization: str | None) -> bool:
        return self.identify(authorization) is not None


def from_env(path: str | None) -> ApiKeys:
    return ApiKeys(path, os.environ.get("PASTURE_API_KEYS"))

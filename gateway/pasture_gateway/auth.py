"""API keys, as the runtime takes them (runtime/pasture_runtime/auth.py): a
file of keys (one per line, `#` comments; re-read when it changes, so a
mounted Secret rotates without a restart) plus PASTURE_API_KEYS (comma list).
Compared in constant time, never logged. The same class holds the internal
key the gateway presents to runtimes (--upstream-key-file)."""

from __future__ import annotations

import hmac
from pathlib import Path

from .identity import ANONYMOUS, Identity, plain_key_identity


class ApiKeys:
    def __init__(self, path: str | None, env_keys: str | None = None) -> None:
        self.path = Path(path) if path else None
        self._env = [k.strip() for k in (env_keys or "").split(",") if k.strip()]
        self._keys: list[str] = []
        self._stamp: tuple[float, int] | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None or bool(self._env)

    def current(self) -> list[str]:
        if self.path is None:
            return self._env
        try:
            st = self.path.stat()
        except OSError:
            return self._env + self._keys  # keep the last good keys if it vanishes
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            lines = self.path.read_text().splitlines()
            self._keys = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
            self._stamp = stamp
        return self._env + self._keys

    def check(self, authorization: str | None) -> bool:
        if not self.enabled:
            return True
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        given = authorization[7:].strip().encode()
        return any(hmac.compare_digest(given, k.encode()) for k in self.current())

    def identify(self, authorization: str | None) -> Identity | None:
        """The caller's identity, or None for a missing or unknown key."""
        if not self.enabled:
            return ANONYMOUS
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        given = authorization[7:].strip().encode()
        for key in self.current():
            if hmac.compare_digest(given, key.encode()):
                return plain_key_identity(key)
        return None

    def first(self) -> str | None:
        keys = self.current()
        return keys[0] if keys else None

"""API keys as both the gateway and the runtime take them: a key file
(keyfile.py: the plain list, or YAML identities holding only each key's
sha256) plus a comma list of plain keys from the environment. The file is
re-read when it changes, so a mounted Secret rotates without a restart; a
file that stops parsing keeps the last good version (and says so in the log).
A presented key is hashed and compared with every entry in constant time,
never logged."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from pathlib import Path

from . import keyfile
from .identity import Identity
from .keyfile import KeyBook, KeyFileError

log = logging.getLogger(__name__)


def credentials(headers: Mapping[str, str]) -> str | None:
    """The Authorization header; else Anthropic's `x-api-key` (the anthropic
    SDK's api_key) as a bearer key, so its clients need no other setting.
    `headers`: lower-cased names."""
    given = headers.get("authorization")
    if given is None and "x-api-key" in headers:
        return f"Bearer {headers['x-api-key']}"
    return given


class ApiKeys:
    def __init__(self, path: str | None, env_keys: str | None, anonymous: Identity) -> None:
        """`anonymous`: the caller when no keys are configured at all (each
        component decides what an unauthenticated caller may do)."""
        self.path = Path(path) if path else None
        self.anonymous = anonymous
        self._env = keyfile.parse("\n".join(k.strip() for k in (env_keys or "").split(",")))
        self._file = keyfile.EMPTY
        self._book = self._env
        self._stamp: tuple[int, int, int] | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None or bool(self._env.entries)

    def book(self) -> KeyBook:
        """The current keys: the environment's and the file's (re-read on change)."""
        if self.path is None:
            return self._env
        try:
            st = self.path.stat()
        except OSError:
            return self._book  # keep the last good keys if it vanishes
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._file = keyfile.parse(self.path.read_text())
            except (OSError, KeyFileError) as e:
                log.error("key file %s not loaded, keeping the previous keys: %s", self.path, e)
            self._book = KeyBook(
                self._env.entries + self._file.entries,
                self._env.plain + self._file.plain,
                self._env.tenants | self._file.tenants,
            )
        return self._book

    def current(self) -> list[str]:
        """The plain keys (the upstream key's file); hashed entries have none."""
        return list(self.book().plain)

    def first(self) -> str | None:
        keys = self.current()
        return keys[0] if keys else None

    def identify(self, authorization: str | None) -> Identity | None:
        """The caller's identity (`anonymous` when no keys are configured), or
        None for a missing or unknown key."""
        if not self.enabled:
            return self.anonymous
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        given = hashlib.sha256(authorization[7:].strip().encode()).hexdigest().encode()
        found: Identity | None = None
        for digest, identity in self.book().entries:  # every entry: no early exit
            if hmac.compare_digest(given, digest) and found is None:
                found = identity
        return found

    def check(self, authorization: str | None) -> bool:
        return self.identify(authorization) is not None

    def tenants(self) -> frozenset[str]:
        """The configured tenants, as of the last read (no second stat per request)."""
        return self._book.tenants if self.enabled else frozenset({self.anonymous.tenant})

"""Credentials out of everything Pasture shows: status, messages, Events, logs.

A URL source may carry credentials (`https://user:pass@host/...`, a pre-signed
`...?X-Amz-Signature=...`, `?token=...`). Every text that leaves the operator or
the downloader for people to read goes through `redact`: userinfo is replaced
and the values of secret-looking query parameters are masked. Pure, no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "REDACTED"
# Query parameter names whose values are secrets (case-insensitive substrings):
# tokens and keys, S3/GCS/Azure signatures and credentials, passwords, sessions.
_SECRET_PARAM = re.compile(
    r"token|key|sig|secret|pass|pwd|auth|credential|session|jwt|^code$|^sv$|^se$",
    re.IGNORECASE,
)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_QUERY_PAIR = re.compile(r"([^&=;]+)=([^&;]*)")


def _query(query: str) -> str:
    def mask(m: re.Match[str]) -> str:
        return f"{m.group(1)}={MASK}" if _SECRET_PARAM.search(m.group(1)) else m.group(0)

    return _QUERY_PAIR.sub(mask, query)


def redact_url(url: str) -> str:
    """`url` with its userinfo and secret query values masked (unchanged if it has none)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: mask everything before the host
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{MASK}@{rest.rsplit('@', 1)[-1]}" if "@" in rest else url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(
        SplitResult(parts.scheme, netloc, parts.path, _query(parts.query), parts.fragment)
    )


def redact(text: str) -> str:
    """Every URL inside `text` redacted; the rest of the text unchanged."""

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        trail = len(url) - len(url.rstrip(".,;:)]}"))  # sentence punctuation after a URL
        return redact_url(url[: len(url) - trail]) + url[len(url) - trail :]

    return _URL.sub(one, text)

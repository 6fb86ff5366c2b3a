"""Names of generated objects and volumes, valid for every name the CRDs admit.

A Model or ModelDeployment name is any DNS-1123 subdomain (dots allowed) up to
the CRD's length rule, but some generated names are stricter: Service names
are DNS-1035 labels, volume names DNS-1123 labels, and a Job's name becomes
its pods' `job-name` label (63 characters at most). A name that already fits
is kept as is (existing objects keep their names); one that does not is
made to fit and gets a hash of the full name, so distinct inputs stay distinct
(the truncation Kubernetes' own generators and Helm's `trunc 63` + hash use).
"""

from __future__ import annotations

import hashlib
import re

LABEL_MAX = 63
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_INVALID = re.compile(r"[^-a-z0-9]+")
_HASH_LEN = 8


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LEN]


def _fit(base: str, limit: int, *, letter_first: bool) -> str:
    """`base` with invalid characters replaced, cut to leave room for `-<hash>`."""
    cleaned = _INVALID.sub("-", base.lower())
    if letter_first and not cleaned[:1].isalpha():
        cleaned = "x" + cleaned
    head = cleaned[: limit - _HASH_LEN - 1].strip("-")
    return f"{head}-{_digest(base)}" if head else f"x{_digest(base)}"


def dns_label(base: str, limit: int = LABEL_MAX) -> str:
    """A DNS-1123 label (volume names): `base` if it is one, else a fitted form."""
    if len(base) <= limit and _DNS1123_LABEL.match(base):
        return base
    return _fit(base, limit, letter_first=False)


def service_name(base: str) -> str:
    """A DNS-1035 label (Service names start with a letter and have no dots)."""
    if len(base) <= LABEL_MAX and _DNS1035_LABEL.match(base):
        return base
    return _fit(base, LABEL_MAX, letter_first=True)


def bounded(base: str, limit: int = LABEL_MAX) -> str:
    """`base` (already a DNS-1123 subdomain) cut to `limit` with a hash of the whole.

    For names that are also label values (a Job's name): dots are kept, the
    result still starts and ends with an alphanumeric character.
    """
    if len(base) <= limit:
        return base
    head = base[: limit - _HASH_LEN - 1].rstrip("-.")
    return f"{head}-{_digest(base)}"


# A LeaderWorkerSet's name starts its pods' hostnames (<name>-<group>-<worker>),
# its StatefulSets' revision labels and its headless Service's name: a DNS-1035
# label with room for those suffixes.
GROUP_SET_NAME_MAX = 40


def group_set_name(base: str) -> str:
    """The LeaderWorkerSet of a multi-node ModelDeployment (not `base`: LWS makes a
    headless Service of its own name, and `base` names our Service)."""
    name = f"{base}-group"
    if len(name) <= GROUP_SET_NAME_MAX and _DNS1035_LABEL.match(name):
        return name
    return _fit(name, GROUP_SET_NAME_MAX, letter_first=True)

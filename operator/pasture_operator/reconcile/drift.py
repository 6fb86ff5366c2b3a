"""Does an observed object still hold everything we would apply?

Server-side apply is idempotent, but an apply per child per pass costs API
calls; a child whose observed state already contains every field we set is
skipped. Fields the apiserver adds (defaults, status, managedFields) are
ignored; anything we set and someone changed or removed counts as drift.
"""

from __future__ import annotations

from typing import Any


def contains(observed: Any, desired: Any) -> bool:
    """True when `observed` holds every field and value of `desired`."""
    if isinstance(desired, dict):
        if not isinstance(observed, dict):
            return False
        return all(
            k in observed and contains(observed[k], v) for k, v in desired.items() if v is not None
        )
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(observed) != len(desired):
            return False
        return all(contains(o, d) for o, d in zip(observed, desired, strict=True))
    if isinstance(desired, bool) or isinstance(observed, bool):
        return observed is desired
    if isinstance(desired, int | float) and isinstance(observed, int | float):
        return float(observed) == float(desired)
    return bool(observed == desired)


def needs_apply(desired: dict[str, Any], observed: dict[str, Any] | None) -> bool:
    if observed is None:
        return True
    return not contains(observed, desired)

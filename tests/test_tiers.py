"""The test tiers' guard (tests/fixtures/tiers.py): in a tier that does not
start a part, reaching that part fails at once with what to do."""

from __future__ import annotations

import pytest

from tests.fixtures.tiers import TIER_ENV, require_tier


@pytest.mark.parametrize(
    ("tier", "part", "allowed"),
    [
        ("", "kube", True),  # no tier selected (`make test`, plain pytest): everything
        ("", "engine", True),
        ("unit", "kube", False),
        ("unit", "engine", False),
        ("kube", "kube", True),
        ("kube", "engine", True),  # tests marked both run in the kube tier
        ("engine", "engine", True),
        ("engine", "kube", False),
    ],
)
def test_require_tier(monkeypatch: pytest.MonkeyPatch, tier: str, part: str, allowed: bool) -> None:
    monkeypatch.setenv(TIER_ENV, tier)
    if allowed:
        require_tier(part)
        return
    with pytest.raises(pytest.fail.Exception, match=f"needs the {part} tier: mark it"):
        require_tier(part)


def test_an_unknown_tier_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIER_ENV, "units")
    with pytest.raises(pytest.fail.Exception, match="expected one of"):
        require_tier("kube")

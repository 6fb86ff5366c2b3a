"""Fixtures for the whole suite. Each lives in tests/fixtures/ with one job."""

pytest_plugins = [
    "tests.fixtures.tiers",
    "tests.fixtures.model",
    "tests.fixtures.engine",
    "tests.fixtures.cluster",
    "tests.fixtures.lws",
    "tests.fixtures.ollama_cli",
]


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    """Run tests marked `disruptive` (they stop and restart control-plane
    components of the shared session cluster) after every other test, so the
    recovery they force cannot slow or fail an unrelated test."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)

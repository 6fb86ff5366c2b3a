"""Fixtures for the whole suite. Each lives in tests/fixtures/ with one job."""

pytest_plugins = [
    "tests.fixtures.model",
    "tests.fixtures.engine",
    "tests.fixtures.cluster",
]

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.chart.helpers import own_cluster
from tests.fixtures.cluster import KubeCluster


@pytest.fixture(scope="session")
def chart_cluster() -> Iterator[KubeCluster]:
    """A control plane for the chart and monitoring tests alone (see helpers.py)."""
    yield from own_cluster(f"chart-{os.getpid()}")

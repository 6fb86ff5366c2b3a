"""Fixtures for the gateway's tests on the local control plane."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster import KubeCluster
from tests.gateway.harness import Cluster, Process, relay, start_gateway, start_runtime
from tests.operator.autoscale_support import LoopThread
from tests.operator.conftest import crds  # noqa: F401  (the CRDs, applied once)


@pytest.fixture(scope="module")
def runtime(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    rt = start_runtime(tiny_model_dir, tmp_path_factory.mktemp("gw-runtime"))
    try:
        yield rt
    finally:
        rt.stop()


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


@pytest.fixture
def bind(loop: LoopThread, runtime: Process) -> Iterator[Callable[[str], Callable[[], None]]]:
    """Bind a pod IP to the runtime for this test; unbound afterwards."""
    made: list[Callable[[], None]] = []
    binder = relay(loop, runtime)

    def bind_ip(ip: str) -> Callable[[], None]:
        unbind = binder(ip)
        made.append(unbind)
        return unbind

    try:
        yield bind_ip
    finally:
        for unbind in made:
            with contextlib.suppress(Exception):
                unbind()


@pytest.fixture
def cluster(crds: KubeCluster, namespace: str) -> Cluster:  # noqa: F811
    return Cluster(crds, namespace)


@pytest.fixture
def gateway(
    crds: KubeCluster,  # noqa: F811
    namespace: str,
    tmp_path: Path,
) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(*extra: str) -> Process:
        gw = start_gateway(crds, namespace, tmp_path, *extra)
        started.append(gw)
        return gw

    try:
        yield start
    finally:
        for gw in started:
            gw.stop()

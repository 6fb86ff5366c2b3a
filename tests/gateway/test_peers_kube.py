"""The gateway's replica share from its own Deployment, on the local control
plane: the real watch (kube/watch.py) feeds GatewayReplicas as the real
deployment controller and kwok's pods move `status.readyReplicas`."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from pasture_gateway.kube import peers, watch
from pasture_gateway.kube.connection import connect
from tests.fixtures.cluster import KubeCluster

pytestmark = pytest.mark.kube


def _deployment(replicas: int) -> str:
    labels = {"app": "gw"}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "gw", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "gw", "image": "gw:test"}]}}},
    })  # fmt: skip


async def _until(replicas: peers.GatewayReplicas, ready: int, within: float) -> None:
    deadline = time.monotonic() + within
    while replicas.ready != ready:
        assert time.monotonic() < deadline, f"ready {replicas.ready}, waiting for {ready}"
        await asyncio.sleep(0.2)


def test_share_follows_the_ready_replicas(kube_cluster: KubeCluster, namespace: str) -> None:
    k = kube_cluster
    k.kubectl("apply", "-n", namespace, "-f", "-", input=_deployment(3))

    async def run() -> None:
        client = connect(str(k.kubeconfig))
        replicas = peers.GatewayReplicas("gw")
        task = asyncio.create_task(watch.run(client, peers.source(namespace), replicas))
        try:
            await _until(replicas, 3, 120)
            assert replicas.share == pytest.approx(1 / 3)
            await asyncio.to_thread(k.kubectl, "scale", "-n", namespace, "deployment/gw",
                                    "--replicas=1")  # fmt: skip
            await _until(replicas, 1, 120)
            await asyncio.to_thread(k.kubectl, "delete", "-n", namespace, "deployment/gw")
            await asyncio.sleep(1)
            assert replicas.share == 1.0  # gone: this process enforces whole limits
        finally:
            task.cancel()
            await client.aclose()

    asyncio.run(run())

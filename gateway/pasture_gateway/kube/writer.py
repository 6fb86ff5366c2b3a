"""The gateway's two writes (contract items 3 and 4): raise a ModelDeployment
from 0 to 1 replica through the scale subresource, and merge-patch its demand
annotations."""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)
MERGE = {"Content-Type": "application/merge-patch+json"}


def _path(namespace: str, name: str) -> str:
    return f"/apis/pasture.dev/v1alpha1/namespaces/{namespace}/modeldeployments/{name}"


class KubeWriter:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def wake(self, namespace: str, name: str) -> bool:
        """Set replicas to 1 if they read 0 (idempotent across gateway replicas)."""
        scale = _path(namespace, name) + "/scale"
        r = await self.client.get(scale)
        r.raise_for_status()
        if int((r.json().get("spec") or {}).get("replicas") or 0) != 0:
            return False
        r = await self.client.patch(scale, json={"spec": {"replicas": 1}}, headers=MERGE)
        r.raise_for_status()
        log.info("scaled %s/%s from 0 to 1 for a held request", namespace, name)
        return True

    async def annotate(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        body = {"metadata": {"annotations": annotations}}
        r = await self.client.patch(_path(namespace, name), json=body, headers=MERGE)
        r.raise_for_status()

"""The gateway's writes: raise a ModelDeployment from 0 to 1 replica through
the scale subresource and merge-patch its demand annotations (contract items 3
and 4); with management on, create, patch and delete Models and
ModelDeployments, each change an Event naming the caller's key id."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)
MERGE = {"Content-Type": "application/merge-patch+json"}
GROUP = "/apis/pasture.dev/v1alpha1"
PLURALS = {"Model": "models", "ModelDeployment": "modeldeployments"}


class KubeError(Exception):
    """The API server refused a write (status and its message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _path(namespace: str, name: str) -> str:
    return f"{GROUP}/namespaces/{namespace}/modeldeployments/{name}"


def _of(kind: str, namespace: str, name: str = "") -> str:
    base = f"{GROUP}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{base}/{name}" if name else base


def _check(r: httpx.Response) -> dict[str, Any]:
    if r.status_code >= 400:
        try:
            message = str(r.json().get("message") or r.text)
        except ValueError:
            message = r.text
        raise KubeError(r.status_code, message)
    body = r.json() if r.content else {}
    return body if isinstance(body, dict) else {}


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

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        r = await self.client.get(_of(kind, namespace, name))
        return None if r.status_code == 404 else _check(r)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        ns = obj["metadata"]["namespace"]
        return _check(await self.client.post(_of(obj["kind"], ns), json=obj))

    async def patch(
        self, kind: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        r = await self.client.patch(_of(kind, namespace, name), json=body, headers=MERGE)
        return _check(r)

    async def delete(self, kind: str, namespace: str, name: str) -> bool:
        """False when it was already gone."""
        body = {"propagationPolicy": "Background"}
        r = await self.client.request("DELETE", _of(kind, namespace, name), json=body)
        if r.status_code == 404:
            return False
        _check(r)
        return True

    async def event(self, obj: dict[str, Any], reason: str, message: str) -> None:
        """A Normal Event on obj (kubectl describe shows it); advisory: a refused
        Event never fails the change it records."""
        meta = obj.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ns = str(meta.get("namespace") or "default")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name')}.", "namespace": ns},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta.get("name"),
                "namespace": ns,
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Normal",
            "source": {"component": "pasture-gateway"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            _check(await self.client.post(f"/api/v1/namespaces/{ns}/events", json=event))
        except (KubeError, httpx.HTTPError) as e:
            log.warning("event on %s/%s refused: %s", ns, meta.get("name"), e)

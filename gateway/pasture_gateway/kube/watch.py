"""List-then-watch of one kind in one scope, forever: relists after a 410
(expired resourceVersion), a dropped stream or an error (with backoff), and
hands every snapshot and event to the store."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ..routing.objects import DEPLOYMENT_LABEL

log = logging.getLogger(__name__)
WATCH_SECONDS = 300


class Sink(Protocol):
    def replace(self, kind: str, scope: str, items: list[dict[str, Any]]) -> None: ...
    def event(self, kind: str, type_: str, obj: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Source:
    kind: str  # "Model" | "ModelDeployment" | "Pod"
    path: str  # collection path, e.g. /apis/pasture.dev/v1alpha1/namespaces/ns/models
    scope: str  # the namespace, or "" for all
    label_selector: str | None = None


class Expired(Exception):
    pass


async def _list(client: httpx.AsyncClient, src: Source) -> tuple[list[dict[str, Any]], str]:
    params = {"labelSelector": src.label_selector} if src.label_selector else {}
    r = await client.get(src.path, params=params)
    r.raise_for_status()
    body = r.json()
    return list(body.get("items") or []), str((body.get("metadata") or {}).get("resourceVersion"))


def _handle(sink: Sink, src: Source, event: Mapping[str, Any]) -> str | None:
    """Apply one watch event; its resourceVersion (None for ERROR)."""
    type_, obj = event.get("type"), event.get("object") or {}
    if type_ == "ERROR":
        if obj.get("code") == 410:
            raise Expired()
        raise RuntimeError(f"watch error: {obj.get('message')}")
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    if type_ in ("ADDED", "MODIFIED", "DELETED"):
        sink.event(src.kind, str(type_), dict(obj))
    return str(rv) if rv else None


async def _watch(client: httpx.AsyncClient, src: Source, sink: Sink, rv: str) -> str:
    params = {
        "watch": "1",
        "resourceVersion": rv,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(WATCH_SECONDS),
    }
    if src.label_selector:
        params["labelSelector"] = src.label_selector
    timeout = httpx.Timeout(WATCH_SECONDS + 30, connect=10)
    async with client.stream("GET", src.path, params=params, timeout=timeout) as r:
        if r.status_code == 410:
            raise Expired()
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line.strip():
                rv = _handle(sink, src, json.loads(line)) or rv
    return rv


async def run(client: httpx.AsyncClient, src: Source, sink: Sink) -> None:
    backoff = 0.5
    while True:
        try:
            items, rv = await _list(client, src)
            sink.replace(src.kind, src.scope, items)
            backoff = 0.5
            while True:
                rv = await _watch(client, src, sink, rv)
        except asyncio.CancelledError:
            raise
        except Expired:
            continue
        except Exception as e:
            log.warning("watch %s %s: %s; relisting in %.1fs", src.kind, src.scope, e, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)


def sources(namespaces: tuple[str, ...]) -> list[Source]:
    """One watch per kind per namespace, or one cluster-wide per kind."""
    out: list[Source] = []
    for ns in namespaces or ("",):
        prefix = f"/namespaces/{ns}" if ns else ""
        out += [
            Source("Model", f"/apis/pasture.dev/v1alpha1{prefix}/models", ns),
            Source("ModelDeployment", f"/apis/pasture.dev/v1alpha1{prefix}/modeldeployments", ns),
            Source("Pod", f"/api/v1{prefix}/pods", ns, DEPLOYMENT_LABEL),
        ]
    return out

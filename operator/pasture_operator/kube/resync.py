"""Re-lists that replace the store's view (what a controller-runtime informer does).

kopf re-lists a resource after a `410 Gone` (e.g. an apiserver restart lost the
watch history) and hands each listed object to the handlers as an event of
type None, but it never says which objects the list no longer holds: a watch
gap's deletions would stay in the store forever (a deleted child "still there",
a deleted ModelDeployment still autoscaled). So whenever kopf lists (events of
type None, debounced), and on a slow timer as a safety net (a re-list that
found nothing yields no event at all), the operator lists every watched kind
itself and replaces the store's view of it: objects the list should have held
but did not are handed on as deletions, newer ones as updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pasture_operator.constants import (
    API_VERSION,
    DEPLOYMENT_KIND,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    MODEL_KIND,
)
from pasture_operator.kube.client import Kube, KubeError
from pasture_operator.kube.store import Store, resource_version

logger = logging.getLogger("pasture_operator")

MANAGED = f"{LABEL_MANAGED_BY}={MANAGED_BY}"


@dataclass(frozen=True)
class Watched:
    kind: str
    api_version: str
    label_selector: str | None = None


# Mirrors the kopf handlers in main.py (same kinds, same label selectors).
WATCHED: tuple[Watched, ...] = (
    Watched(DEPLOYMENT_KIND, API_VERSION),
    Watched(MODEL_KIND, API_VERSION),
    Watched("Deployment", "apps/v1", MANAGED),
    Watched("ConfigMap", "v1", MANAGED),
    Watched("Service", "v1", MANAGED),
    Watched("Pod", "v1", MANAGED),
    Watched("PodDisruptionBudget", "policy/v1", MANAGED),
    Watched("NetworkPolicy", "networking.k8s.io/v1", MANAGED),
    Watched("ServiceMonitor", "monitoring.coreos.com/v1", MANAGED),
    Watched("InferencePool", "inference.networking.k8s.io/v1", MANAGED),
    Watched("Job", "batch/v1", MANAGED),
    Watched("PersistentVolumeClaim", "v1"),
)
# After kopf's last listed object, wait this long for more before listing.
QUIET_SECONDS = 1.0
RETRY_SECONDS = 5.0

# kind, event type ("DELETED" or "RESYNC"), body
Observe = Callable[[str, str, dict[str, Any]], None]


def stale(
    store: Store, kind: str, namespace: str | None, listed: Iterable[str], list_rv: int
) -> list[dict[str, Any]]:
    """Stored objects of `kind` (in `namespace`, or anywhere for None) that a list at
    `list_rv` should have returned but did not. An object newer than the list
    (its watch event overtook our list response) is kept."""
    seen = set(listed)
    return [
        body
        for body in store.all(kind)
        if (namespace is None or _ns(body) == namespace)
        and f"{_ns(body)}/{body['metadata']['name']}" not in seen
        and resource_version(body) <= list_rv
    ]


def _ns(body: dict[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("namespace") or "")


class Resyncer:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        observe: Observe,
        namespaces: Iterable[str] = (),
        period: float = 300.0,
    ) -> None:
        self.kube = kube
        self.store = store
        self.observe = observe
        # Exact names are always listed; globs only where objects were seen
        # (an empty list means cluster-wide: one list per kind).
        self.namespaces = [n for n in namespaces if not any(ch in n for ch in "*?[!")]
        self.cluster_wide = not list(namespaces)
        self.period = period
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # A standby replica (peering: paused before it ever watched) gets no
        # listing; the timer must not make it list and act on what it finds.
        self._listed = False
        self.passes = 0

    def request(self) -> None:
        """kopf is listing (an event of type None): resync once its burst is over."""
        self._listed = True
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pasture-resync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            timeout = self.period if self.period > 0 else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            while True:  # debounce: a listing arrives as a burst of events
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), QUIET_SECONDS)
                except TimeoutError:
                    break
            try:
                await self.resync()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # apiserver trouble: try again soon
                logger.warning("resync failed (%s); retrying in %.0fs", e, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def resync(self) -> None:
        """List every watched kind and replace the store's view of it."""
        removed = updated = 0
        for w in WATCHED:
            scopes: list[str | None] = [None]
            if not self.cluster_wide:
                scopes = [*sorted(set(self.namespaces) | {_ns(b) for b in self.store.all(w.kind)})]
            for ns in scopes:
                try:
                    items, list_rv = await self.kube.list_with_version(
                        w.api_version, w.kind, ns, w.label_selector
                    )
                except KubeError as e:
                    if e.status in (403, 404):  # kind not served (no CRD) or not ours to list
                        continue
                    raise
                names = []
                for body in items:
                    body.setdefault("apiVersion", w.api_version)
                    body.setdefault("kind", w.kind)
                    names.append(f"{_ns(body)}/{body['metadata']['name']}")
                    old = self.store.get(w.kind, _ns(body), body["metadata"]["name"])
                    if old is None or resource_version(old) < resource_version(body):
                        self.observe(w.kind, "RESYNC", body)
                        updated += 1
                for body in stale(self.store, w.kind, ns, names, list_rv):
                    self.observe(w.kind, "DELETED", body)
                    removed += 1
        self.passes += 1
        if removed or updated:
            logger.info(
                "resync: %d object(s) gone during a watch gap, %d newer than the store",
                removed,
                updated,
            )

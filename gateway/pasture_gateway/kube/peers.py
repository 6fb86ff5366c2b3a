"""How many gateway replicas share the limits: the ready replicas of the
gateway's own Deployment, watched (no datastore). Each replica enforces
1/ready of every rate limit and of every model's concurrency, re-balanced as
replicas come and go; until the first list, and without a Deployment to
watch (a single process, benches), the share is whole."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .watch import Source

log = logging.getLogger(__name__)
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class GatewayReplicas:
    """A watch sink for one Deployment: its status.readyReplicas (at least 1:
    this process serves, whether or not its probe has passed yet)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.ready = 1

    @property
    def share(self) -> float:
        return 1.0 / self.ready

    def _set(self, obj: dict[str, Any]) -> None:
        ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
        if max(ready, 1) != self.ready:
            log.info("gateway replicas ready: %d (limits shared 1/%d)", ready, max(ready, 1))
        self.ready = max(ready, 1)

    def _mine(self, obj: dict[str, Any]) -> bool:
        return bool(self.name) and (obj.get("metadata") or {}).get("name") == self.name

    def replace(self, kind: str, scope: str, items: list[dict[str, Any]]) -> None:
        mine = [o for o in items if self._mine(o)]
        if mine:
            self._set(mine[0])
        else:
            self.ready = 1

    def event(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        if not self._mine(obj):
            return
        if type_ == "DELETED":
            self.ready = 1
        else:
            self._set(obj)


def own_namespace(given: str | None) -> str | None:
    if given:
        return given
    try:
        return NAMESPACE_FILE.read_text().strip() or None
    except OSError:
        return None


def source(namespace: str) -> Source:
    return Source("Deployment", f"/apis/apps/v1/namespaces/{namespace}/deployments", namespace)

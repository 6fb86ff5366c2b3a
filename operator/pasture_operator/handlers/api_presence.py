"""Which optional API groups (the CRDs of optional child kinds) the apiserver
serves, each answer trusted for a while: asked per reconcile pass, it would
cost a discovery call per pass."""

from __future__ import annotations

import math
import time

from pasture_operator.kube.client import Kube


class ApiPresence:
    def __init__(self, kube: Kube, ttl_seconds: float) -> None:
        self._kube = kube
        self._ttl = ttl_seconds
        self._seen: dict[str, tuple[float, bool]] = {}

    async def serves(self, group_version: str) -> bool:
        checked_at, exists = self._seen.get(group_version, (-math.inf, False))
        if time.monotonic() - checked_at > self._ttl:
            exists = await self._kube.group_version_exists(group_version)
            self._seen[group_version] = (time.monotonic(), exists)
        return exists

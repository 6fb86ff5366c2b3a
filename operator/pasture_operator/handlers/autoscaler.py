"""The autoscaler loop: one tick per ModelDeployment every `autoscaling.interval`.

Ticks ride on the controller's work queue (key ("Autoscale", ns, name)), so a
tick never runs twice at once for one deployment and shares the workers'
backpressure. A tick: scrape the ready pods (scrape.py) -> pure decision
(policy.py) -> when the count changes, write spec.replicas through the scale
subresource (the one owner of the replica count; the next reconcile pass
carries it to the Deployment) and post an Event -> queue the deployment so its
one status write picks up `status.autoscaling`.

With autoscaling disabled no tick runs and replicas are never touched:
`kubectl scale`, an HPA or KEDA own the count.

With minReplicas 0 a tick also reads the gateway's demand annotations
(pasture.dev/last-request, pasture.dev/keep-alive: docs/autoscaling.md) for
the idle rule; the gateway raises 0 -> 1 itself through the same subresource.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Hashable, Mapping
from typing import Any

from pasture_operator import metrics
from pasture_operator.autoscale.policy import AutoscalingSpec, Idle, Sample, decide
from pasture_operator.autoscale.publish import next_publish
from pasture_operator.autoscale.scrape import Scraper
from pasture_operator.autoscale.state import AutoscaleState, parse_rfc3339, rfc3339
from pasture_operator.constants import API_VERSION, DEPLOYMENT_KIND, LABEL_DEPLOYMENT
from pasture_operator.kube.client import Kube, KubeError
from pasture_operator.kube.store import Store
from pasture_operator.kube.workqueue import WorkQueue

logger = logging.getLogger("pasture_operator.autoscaler")

TICK_KIND = "Autoscale"
Key = tuple[str, str]
# Written by the gateway (GATEWAY-CONTRACT item 4).
LAST_REQUEST_ANNOTATION = "pasture.dev/last-request"
KEEP_ALIVE_ANNOTATION = "pasture.dev/keep-alive"


def demand(md: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(last request, requested keep-alive seconds) from the gateway's annotations;
    a missing or malformed value is None (the idle timeout then applies)."""
    notes = (md.get("metadata") or {}).get("annotations") or {}
    last = parse_rfc3339(notes.get(LAST_REQUEST_ANNOTATION))
    try:
        keep: float | None = float(int(str(notes.get(KEEP_ALIVE_ANNOTATION)).strip()))
    except ValueError:
        keep = None
    return last, keep


def enabled(md: Mapping[str, Any] | None) -> bool:
    return (
        md is not None
        and not md["metadata"].get("deletionTimestamp")
        and AutoscalingSpec.from_spec(md.get("spec")).enabled
    )


class Autoscaler:
    def __init__(self, kube: Kube, store: Store, queue: WorkQueue) -> None:
        self.kube = kube
        self.store = store
        self.queue = queue
        self.scraper = Scraper()
        self.states: dict[Key, AutoscaleState] = {}
        self._ticking: set[Key] = set()
        # The one pending next tick per deployment: scheduling another replaces
        # it, so a chain can never fork into two (e.g. after a failed tick).
        self._next: dict[Key, asyncio.TimerHandle] = {}
        # status.autoscaling as last handed to a status write, and when
        # (monotonic); a write due later is queued once (publish.py).
        self._published: dict[Key, tuple[dict[str, Any], float]] = {}
        self._publish_later: dict[Key, tuple[float, asyncio.TimerHandle]] = {}

    async def close(self) -> None:
        for handle in (*self._next.values(), *(h for _, h in self._publish_later.values())):
            handle.cancel()
        self._next.clear()
        self._publish_later.clear()
        await self.scraper.close()

    def _schedule(self, key: Key, delay: float) -> None:
        old = self._next.pop(key, None)
        if old is not None:
            old.cancel()
        self._next[key] = asyncio.get_running_loop().call_later(
            delay, self.queue.add, (TICK_KIND, *key)
        )

    def ensure(self, md: Mapping[str, Any]) -> None:
        """Start the tick chain of an enabled deployment (called on every reconcile)."""
        key = (str(md["metadata"]["namespace"]), str(md["metadata"]["name"]))
        if enabled(md) and key not in self._ticking:
            self._ticking.add(key)
            self.queue.add((TICK_KIND, *key))

    def status_for(self, md: Mapping[str, Any]) -> dict[str, Any] | None:
        """status.autoscaling for this pass; None (field removed) when disabled."""
        if not enabled(md):
            return None
        key = (str(md["metadata"]["namespace"]), str(md["metadata"]["name"]))
        state = self.states.get(key)
        old = (md.get("status") or {}).get("autoscaling")
        written = dict(old) if isinstance(old, Mapping) else None
        if state is None:  # no tick yet (operator start): keep the evidence as written
            return written
        current = state.status()
        published, at = self._published.get(key, (None, None))
        now = time.monotonic()
        due = next_publish(published, current, at, now)
        if due is not None and due <= now:
            self._published[key] = (current, now)
            return current
        return published if published is not None else written

    def _queue_publish(self, key: Key, status: dict[str, Any]) -> None:
        """Queue the deployment's status write when `status` is due (publish.py)."""
        published, at = self._published.get(key, (None, None))
        now = time.monotonic()
        due = next_publish(published, status, at, now)
        pending = self._publish_later.get(key)
        if due is None or (pending is not None and pending[0] <= due):
            return  # nothing new, or a write already queued at least as early
        if pending is not None:  # e.g. a heartbeat, overtaken by a significant change
            pending[1].cancel()
            del self._publish_later[key]
        if due <= now:
            self.queue.add((DEPLOYMENT_KIND, *key))
            return

        def fire() -> None:
            self._publish_later.pop(key, None)
            self.queue.add((DEPLOYMENT_KIND, *key))

        handle = asyncio.get_running_loop().call_later(due - now, fire)
        self._publish_later[key] = (due, handle)

    async def tick(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = str(key[1]), str(key[2])
        md = self.store.get(DEPLOYMENT_KIND, ns, name)
        if not enabled(md):
            self._stop(ns, name, requeue=md is not None)
            return
        assert md is not None
        spec = AutoscalingSpec.from_spec(md.get("spec"))
        started = time.monotonic()
        try:
            await self._tick(ns, name, md, spec)
        except KubeError as e:  # apiserver trouble: try again next tick
            metrics.AUTOSCALER_ERRORS.inc()
            logger.warning("autoscaler tick for %s/%s failed: %s", ns, name, e)
        except Exception:  # never out to the work queue: its retry would fork the chain
            metrics.AUTOSCALER_ERRORS.inc()
            logger.exception("autoscaler tick for %s/%s failed", ns, name)
        finally:
            delay = max(0.05, spec.interval - (time.monotonic() - started))
            self._schedule((ns, name), delay)

    async def _tick(self, ns: str, name: str, md: Mapping[str, Any], spec: AutoscalingSpec) -> None:
        state = self.states.get((ns, name))
        if state is None:
            state = AutoscaleState.restore(
                spec, (md.get("status") or {}).get("autoscaling"), time.time()
            )
            self.states[(ns, name)] = state
        state.spec = spec
        before = state.status()
        pods = self.store.labelled("Pod", ns, LABEL_DEPLOYMENT, name)
        result = await self.scraper.scrape(pods, spec.metric)
        now = time.time()
        sample = Sample(
            now, result.load, len(result.scraped), len(result.missing), result.in_flight
        )
        window = state.add(sample)
        current = int((md.get("spec") or {}).get("replicas", 1))
        idle: Idle | None = None
        if spec.min_replicas == 0:
            idle = state.idle(current, result.requests, *demand(md), now)
        decision = decide(window, current, spec, state.last_busy, now, idle)
        metrics.AUTOSCALER_DECISIONS.labels(decision.reason).inc()
        if decision.changes(current):
            await self._scale(md, current, decision.desired, decision.reason, decision.message)
        state.record(decision, current, result.missing, now)
        labels = (ns, name)
        metrics.AUTOSCALER_METRIC.labels(*labels).set(decision.metric or 0.0)
        metrics.AUTOSCALER_TARGET.labels(*labels).set(spec.target)
        metrics.AUTOSCALER_DESIRED.labels(*labels).set(decision.desired)
        metrics.AUTOSCALER_MISSING.labels(*labels).set(len(result.missing))
        after = state.status()
        if after != before:
            self._queue_publish((ns, name), after)  # the deployment's status write carries it

    async def _scale(
        self, md: Mapping[str, Any], current: int, desired: int, reason: str, message: str
    ) -> None:
        meta = md["metadata"]
        ns, name = str(meta["namespace"]), str(meta["name"])
        scale = await self.kube.scale(API_VERSION, DEPLOYMENT_KIND, ns, name, desired)
        metrics.AUTOSCALER_SCALES.labels("up" if desired > current else "down").inc()
        logger.info(
            "autoscaled modeldeployment %s/%s %d -> %d (%s: %s)",
            ns,
            name,
            current,
            desired,
            reason,
            message,
        )
        # Fold the write into the store now, so the next tick (maybe before the
        # watch event) reads the new count; the store ignores older versions.
        updated = {
            **md,
            "spec": {**(md.get("spec") or {}), "replicas": desired},
            "metadata": {
                **meta,
                "resourceVersion": (scale.get("metadata") or {}).get("resourceVersion")
                or meta.get("resourceVersion"),
            },
        }
        self.store.put(DEPLOYMENT_KIND, updated)
        try:
            await self.kube.post_event(
                md,
                "Normal",
                reason,
                f"autoscaler: {current} -> {desired} replicas: {message}",
                rfc3339(time.time()),
            )
        except KubeError as e:  # best effort, like every Event
            logger.warning("could not post autoscaler event: %s", e)

    def _stop(self, ns: str, name: str, *, requeue: bool) -> None:
        self._ticking.discard((ns, name))
        handle = self._next.pop((ns, name), None)
        if handle is not None:
            handle.cancel()
        later = self._publish_later.pop((ns, name), None)
        if later is not None:
            later[1].cancel()
        self._published.pop((ns, name), None)
        if self.states.pop((ns, name), None) is not None and requeue:
            self.queue.add((DEPLOYMENT_KIND, ns, name))  # drop status.autoscaling
        for gauge in (
            metrics.AUTOSCALER_METRIC,
            metrics.AUTOSCALER_TARGET,
            metrics.AUTOSCALER_DESIRED,
            metrics.AUTOSCALER_MISSING,
        ):
            with contextlib.suppress(KeyError):  # never set: nothing to remove
                gauge.remove(ns, name)

"""Read each ready runtime pod's load from its Prometheus /metrics.

Pods are found from the operator's store (the Deployment's pod selector),
using `status.podIP` and the Ready condition: the same set a Service's
EndpointSlices list as ready, without another watch. (It also works where
EndpointSlices cannot carry the address: the apiserver refuses loopback
endpoint addresses, which the local test cluster's kwok pods have.)

A pod that is not ready, has no IP, or does not answer in time is *missing*:
its load is unknown, never zero (see policy.py for how that is used).

A pod's answer is untrusted input: the body is read up to MAX_BODY_BYTES (a
bigger one is cut off), parsed in a worker thread (never on the event loop
every reconcile shares), and every value used must be a finite, non-negative,
plausible number. A pod that breaks any of these is missing, like one that
did not answer.

Besides the load, each read gives what scale to zero needs (policy.py): the
requests running or waiting (always, whatever the load metric), and the
runtime's own count of model requests served (direct traffic moves it).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pasture_operator.autoscale.policy import METRIC_SERIES
from pasture_operator.constants import LWS_WORKER_INDEX_LABEL, RUNTIME_PORT

logger = logging.getLogger("pasture_operator.autoscaler")

# Short connect (a gone pod fails fast), but a busy CPU engine can take over a
# second to answer /metrics while it streams; a slow answer is still an answer.
SCRAPE_TIMEOUT = httpx.Timeout(2.0, connect=0.5)
# A runtime's whole exposition (vLLM's histograms included) is well under 1 MiB.
MAX_BODY_BYTES = 4 << 20
IN_FLIGHT_SERIES = METRIC_SERIES["inFlightRequests"]
# The runtime's request counter; only endpoints that use the model are activity
# (a gateway's /api/show or a client's /api/tags must not keep a model loaded).
REQUESTS_SERIES = "pasture_requests_total"
MODEL_ENDPOINTS = frozenset(
    {
        "/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings",
    }
)  # fmt: skip
# No runtime has a billion requests in flight (kvCacheUsage is at most 1):
# a bigger number is a broken or hostile pod, and would overflow the sums.
MAX_VALUE = 1e9


@dataclass(frozen=True)
class PodTarget:
    name: str
    url: str


@dataclass(frozen=True)
class PodReading:
    load: float
    in_flight: float | None  # running + waiting; None when the pod lacks those series
    requests: float  # model requests served since the runtime started


@dataclass
class ScrapeResult:
    load: float = 0.0
    scraped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # pod names, sorted
    in_flight: float | None = 0.0  # over the scraped pods; None: a ready pod went unread
    requests: dict[str, float] = field(default_factory=dict)  # pod name -> counter


def _ready(pod: Mapping[str, Any]) -> bool:
    st = pod.get("status") or {}
    return (
        st.get("phase") == "Running"
        and bool(st.get("podIP"))
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in st.get("conditions") or []
        )
    )


def _port(pod: Mapping[str, Any]) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == "http":
                return int(p["containerPort"])
    return RUNTIME_PORT


def targets(pods: Iterable[Mapping[str, Any]]) -> tuple[list[PodTarget], list[str]]:
    """(pods to scrape, names of pods whose load is unknown); terminating pods are ignored."""
    out: list[PodTarget] = []
    missing: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue  # leaving: neither capacity nor demand
        if (meta.get("labels") or {}).get(LWS_WORKER_INDEX_LABEL, "0") != "0":
            continue  # a multi-node group's worker: its leader serves and reports the load
        name = str(meta.get("name"))
        if _ready(pod):
            ip = str(pod["status"]["podIP"])
            host = f"[{ip}]" if ":" in ip else ip
            out.append(PodTarget(name, f"http://{host}:{_port(pod)}/metrics"))
        else:
            missing.append(name)
    return sorted(out, key=lambda t: t.name), sorted(missing)


def parse_load(text: str, metric: str) -> float:
    """Sum of the metric's series in one pod's exposition (every label set)."""
    return parse_reading(text, metric).load


def parse_reading(text: str, metric: str) -> PodReading:
    """One pod's load (the metric's series summed), in-flight requests and request count."""
    wanted = set(METRIC_SERIES[metric])
    sums = {"load": 0.0, "in_flight": 0.0, "requests": 0.0}
    found = {"load": False, "in_flight": False}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            is_load, is_flight = sample.name in wanted, sample.name in IN_FLIGHT_SERIES
            is_request = sample.name == REQUESTS_SERIES and (
                sample.labels.get("endpoint") in MODEL_ENDPOINTS
            )
            if not (is_load or is_flight or is_request):
                continue
            value = _checked(sample.name, float(sample.value))
            for key, hit in (("load", is_load), ("in_flight", is_flight), ("requests", is_request)):
                if hit:
                    sums[key] += value
                    found[key] = True
    if not found["load"]:
        raise ValueError(f"no {'/'.join(sorted(wanted))} in the metrics")
    in_flight = sums["in_flight"] if found["in_flight"] else None
    return PodReading(sums["load"], in_flight, sums["requests"])


def _checked(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} is {value}, not a finite number")
    if value < 0:
        raise ValueError(f"{name} is negative ({value})")
    if value > MAX_VALUE:
        raise ValueError(f"{name} is implausibly large ({value:g})")
    return value


class BodyTooLarge(ValueError):
    pass


async def _read_capped(resp: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"metrics body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class Scraper:
    def __init__(self, timeout: httpx.Timeout = SCRAPE_TIMEOUT) -> None:
        # No proxies from the environment: pods are reached directly.
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)
        # Parsing is CPU work: a small pool of its own, so many pods' bodies
        # neither block the event loop nor crowd out other executor work.
        self._parse_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scrape-parse")

    async def close(self) -> None:
        await self._client.aclose()
        self._parse_pool.shutdown(wait=False, cancel_futures=True)

    async def _one(self, target: PodTarget, metric: str) -> PodReading | None:
        try:
            async with self._client.stream("GET", target.url) as resp:
                resp.raise_for_status()
                length = resp.headers.get("content-length", "")
                if length.isdigit() and int(length) > MAX_BODY_BYTES:
                    raise BodyTooLarge(f"metrics body of {length} bytes")
                data = await _read_capped(resp, MAX_BODY_BYTES)
            text = data.decode("utf-8", errors="replace")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._parse_pool, parse_reading, text, metric)
        except Exception as e:  # HTTP trouble, or a body the parser refused: unknown load
            logger.debug("scrape of pod %s failed: %r", target.name, e)
            return None

    async def scrape(self, pods: Sequence[Mapping[str, Any]], metric: str) -> ScrapeResult:
        ready, missing = targets(pods)
        values = await asyncio.gather(*(self._one(t, metric) for t in ready))
        result = ScrapeResult(missing=list(missing))
        for t, v in zip(ready, values, strict=True):
            if v is None:
                result.missing.append(t.name)
                result.in_flight = None  # a ready pod may be serving: unknown
                continue
            result.load += v.load
            result.scraped.append(t.name)
            result.requests[t.name] = v.requests
            if result.in_flight is not None:
                result.in_flight = None if v.in_flight is None else result.in_flight + v.in_flight
        result.missing.sort()
        return result

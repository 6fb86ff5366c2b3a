"""Prometheus metrics for the API layer (`pasture_*`), labelled by model.

vLLM's own engine metrics (`vllm:*`, e.g. vllm:kv_cache_usage_perc) live in
prometheus_client's global registry, filled by the engine's stat logger; ours
live in a registry per app (tests build several apps in one process) and
/metrics serves both. Health probes and /metrics itself are never counted."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# `*_created` series double the output and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.2, 0.5, 1, 2.5)

REJECTION_REASONS = ("queue_full", "draining")
# The endpoints whose engine requests are aborted when the client goes away,
# and the label a drain timeout uses (it aborts whatever is left).
GENERATION_ENDPOINTS = (
    "/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions", "/v1/messages",
    "/v1/responses",
)  # fmt: skip
DRAIN_ENDPOINT = "any"
# Prompts fitted to the context window: chat drops whole old messages,
# completion (generate) prompts are cut from the front, token by token.
FITTED = {
    "/api/chat": "messages_dropped",
    "/v1/chat/completions": "messages_dropped",
    "/v1/messages": "messages_dropped",
    "/v1/responses": "messages_dropped",
    "/api/generate": "tokens_cut",
    "/v1/completions": "tokens_cut",
}


class Metrics:
    def __init__(self, model: str, generation: bool = True) -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "pasture_requests", "API requests by endpoint and HTTP status.",
            ["model", "endpoint", "status"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "pasture_request_duration_seconds", "End-to-end API request latency.",
            ["model", "endpoint"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "pasture_time_to_first_token_seconds", "Request arrival to first output token.",
            ["model", "endpoint"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.itl = Histogram(
            "pasture_inter_token_latency_seconds", "Time between successive output tokens.",
            ["model", "endpoint"], buckets=_ITL_BUCKETS, registry=r,
        )  # fmt: skip
        self.prompt_tokens = Counter(
            "pasture_prompt_tokens", "Prompt tokens processed.",
            ["model", "endpoint"], registry=r,
        )  # fmt: skip
        self.output_tokens = Counter(
            "pasture_output_tokens", "Output tokens generated.",
            ["model", "endpoint"], registry=r,
        )  # fmt: skip
        self.running = Gauge(
            "pasture_requests_running", "Generation requests admitted and running.",
            ["model"], registry=r,
        )  # fmt: skip
        self.waiting = Gauge(
            "pasture_requests_waiting", "Generation requests queued for admission.",
            ["model"], registry=r,
        )  # fmt: skip
        self.rejected = Counter(
            "pasture_admission_rejections", "Requests refused with 503 (queue full or draining).",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        self.aborted = Counter(
            "pasture_requests_aborted", "Engine requests aborted (client gone, drain timeout).",
            ["model", "endpoint", "reason"], registry=r,
        )  # fmt: skip
        self.prompts_fitted = Counter(
            "pasture_prompts_fitted",
            "Requests whose prompt was fitted to the context window (how: messages_dropped "
            "or tokens_cut).",
            ["model", "endpoint", "how"], registry=r,
        )  # fmt: skip
        self.ready = Gauge(
            "pasture_ready", "1 when /readyz would answer 200.", ["model"], registry=r,
        )  # fmt: skip
        self._zero_counters(generation)

    def _zero_counters(self, generation: bool) -> None:
        """Export the rare-event counters at 0 from startup: a series that only
        appears at its first increment makes Prometheus' rate()/increase() miss
        that whole first burst (no earlier sample to diff against)."""
        for reason in REJECTION_REASONS:
            self.rejected.labels(model=self.model, reason=reason)
        endpoints = GENERATION_ENDPOINTS if generation else ()
        for endpoint in endpoints:
            self.aborted.labels(model=self.model, endpoint=endpoint, reason="client_disconnect")
            # The stall alert compares running/waiting with this counter's
            # increase: a pod whose very first request hangs must have it too.
            self.output_tokens.labels(model=self.model, endpoint=endpoint)
        self.aborted.labels(model=self.model, endpoint=DRAIN_ENDPOINT, reason="drain_timeout")
        for endpoint, how in FITTED.items() if generation else ():
            self.prompts_fitted.labels(model=self.model, endpoint=endpoint, how=how)

    def bind_gauges(self, running: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Gauges read live from the admission controller at scrape time."""
        self.running.labels(model=self.model).set_function(running)
        self.waiting.labels(model=self.model).set_function(waiting)

    def render(self) -> bytes:
        return generate_latest(REGISTRY) + generate_latest(self.registry)

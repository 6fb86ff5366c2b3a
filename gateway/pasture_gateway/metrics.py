"""`pasture_gateway_*` metrics. Label values come only from served names
(a ModelDeployment's first served name), the fixed route paths, live pod
names and the key file's tenants (any other tenant counts as "other"), so no
client input can add series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OTHER_TENANT = "other"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HOLD_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pasture_gateway_requests", "Requests answered, by model, endpoint and status code.",
            ["model", "endpoint", "code"], registry=r,
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            "pasture_gateway_upstream_seconds",
            "From sending a request to a runtime to its response headers (time to first byte).",
            ["model", "endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.added_seconds = Histogram(
            "pasture_gateway_added_seconds",
            "Time the gateway adds before forwarding (parse, route, pick), holds excluded.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.held = Gauge(
            "pasture_gateway_held_requests", "Requests held for a model with no ready replica.",
            ["model"], registry=r,
        )  # fmt: skip
        self.hold_seconds = Histogram(
            "pasture_gateway_hold_seconds", "How long held requests waited, by outcome.",
            ["model", "outcome"], buckets=HOLD_BUCKETS, registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "pasture_gateway_retries", "Requests retried on another replica before any byte.",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "pasture_gateway_in_flight", "Requests in flight per replica at this gateway.",
            ["model", "pod"], registry=r,
        )  # fmt: skip
        self.queued = Gauge(
            "pasture_gateway_queued_requests",
            "Requests waiting for a fair turn at a saturated model (docs/gateway.md).",
            ["model"], registry=r,
        )  # fmt: skip
        self.queue_seconds = Histogram(
            "pasture_gateway_queue_seconds", "How long requests waited for a fair turn.",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.wakes = Counter(
            "pasture_gateway_scale_from_zero", "ModelDeployments raised from 0 to 1 replica.",
            ["model"], registry=r,
        )  # fmt: skip
        self.tenant_requests = Counter(
            "pasture_gateway_tenant_requests", "API calls by tenant and status code.",
            ["tenant", "code"], registry=r,
        )  # fmt: skip
        self.tenant_tokens = Counter(
            "pasture_gateway_tenant_tokens", "Tokens by tenant (engine counts).",
            ["tenant", "kind"], registry=r,
        )  # fmt: skip

    def count_tenant(
        self, tenant: str, known: frozenset[str], code: int | None, usage: tuple[int, int] | None
    ) -> None:
        """One call of `tenant`, labelled "other" unless the key file names it."""
        label = tenant if tenant in known else OTHER_TENANT
        self.tenant_requests.labels(tenant=label, code=str(code or 0)).inc()
        if usage:
            self.tenant_tokens.labels(tenant=label, kind="prompt").inc(usage[0])
            self.tenant_tokens.labels(tenant=label, kind="output").inc(usage[1])

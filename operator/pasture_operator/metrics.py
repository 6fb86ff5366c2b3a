"""The operator's own Prometheus metrics (served on --metrics-port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "pasture_operator_reconciles_total", "Reconcile passes by kind and result", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "pasture_operator_reconcile_duration_seconds",
    "Duration of one reconcile pass",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
APPLIES = Counter(
    "pasture_operator_applies_total", "Server-side applies of children (drift or change)", ["kind"]
)
STATUS_WRITES = Counter("pasture_operator_status_writes_total", "Status writes", ["kind"])
MANAGED = Gauge("pasture_operator_managed_objects", "Objects this operator manages", ["kind"])
QUEUE_DEPTH = Gauge("pasture_operator_queue_depth", "Keys waiting or in progress")

# The autoscaler (autoscale/, handlers/autoscaler.py); per-deployment series
# are removed when the deployment or its autoscaling goes away.
AUTOSCALER_METRIC = Gauge(
    "pasture_operator_autoscaler_metric",
    "Load the last decision used: the metric summed over scraped pods, mean of the newest samples",
    ["namespace", "name"],
)
AUTOSCALER_TARGET = Gauge(
    "pasture_operator_autoscaler_target",
    "Metric value one replica is sized for",
    ["namespace", "name"],
)
AUTOSCALER_DESIRED = Gauge(
    "pasture_operator_autoscaler_desired_replicas",
    "Replicas the autoscaler wants",
    ["namespace", "name"],
)
AUTOSCALER_MISSING = Gauge(
    "pasture_operator_autoscaler_missing_pods",
    "Pods whose load is unknown (not ready or not scrapable)",
    ["namespace", "name"],
)
AUTOSCALER_DECISIONS = Counter(
    "pasture_operator_autoscaler_decisions_total",
    "Autoscaler decisions (one per tick) by reason",
    ["reason"],
)
AUTOSCALER_SCALES = Counter(
    "pasture_operator_autoscaler_scales_total",
    "Replica changes written through the scale subresource",
    ["direction"],
)
AUTOSCALER_ERRORS = Counter(
    "pasture_operator_autoscaler_errors_total", "Autoscaler ticks that failed (apiserver errors)"
)

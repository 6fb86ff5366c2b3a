"""The operator's own Prometheus metrics (served on --metrics-port)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

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
    "pasture_operator_autoscaler_errors_total",
    "Autoscaler ticks that failed (apiserver or other errors)",
)

# Per-object state for the dashboards and alert rules, set by each reconcile
# pass from the same observed state its status is derived from; removed when
# the object is deleted (handlers/controller.py).
MD_DESIRED = Gauge(
    "pasture_operator_modeldeployment_desired_replicas",
    "Replicas the ModelDeployment asks for (spec.replicas)",
    ["namespace", "modeldeployment"],
)
MD_READY_REPLICAS = Gauge(
    "pasture_operator_modeldeployment_ready_replicas",
    "Ready replicas of the ModelDeployment's Deployment (status.readyReplicas)",
    ["namespace", "modeldeployment"],
)
MD_READY = Gauge(
    "pasture_operator_modeldeployment_ready",
    "1 when the ModelDeployment's Ready condition is True, else 0",
    ["namespace", "modeldeployment"],
)
MODEL_PHASE = Gauge(
    "pasture_operator_model_phase",
    "1 for the Model's current phase, 0 for the other phases",
    ["namespace", "model", "phase"],
)
MODEL_PHASES = ("Pending", "Downloading", "Ready", "Failed")


def status_ready(status: Mapping[str, Any]) -> bool:
    """Whether a ModelDeployment status says Ready=True."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def export_deployment_state(ns: str, name: str, desired: int, status: Mapping[str, Any]) -> None:
    """The dashboards' per-deployment gauges, from the status a pass derived."""
    ready = status_ready(status)
    set_deployment_state(
        ns, name, desired=desired, ready_replicas=int(status.get("readyReplicas") or 0), ready=ready
    )


def set_deployment_state(
    ns: str, name: str, desired: int, ready_replicas: int, ready: bool
) -> None:
    MD_DESIRED.labels(ns, name).set(desired)
    MD_READY_REPLICAS.labels(ns, name).set(ready_replicas)
    MD_READY.labels(ns, name).set(1 if ready else 0)


def remove_deployment_state(ns: str, name: str) -> None:
    for gauge in (MD_DESIRED, MD_READY_REPLICAS, MD_READY):
        with contextlib.suppress(KeyError):  # never set: nothing to remove
            gauge.remove(ns, name)


def set_model_phase(ns: str, name: str, phase: str) -> None:
    """1 for `phase`, 0 for the other phases (reconcile/model_plan.py has these four)."""
    for p in MODEL_PHASES:
        MODEL_PHASE.labels(ns, name, p).set(1 if p == phase else 0)


def remove_model_phase(ns: str, name: str) -> None:
    for p in MODEL_PHASES:
        with contextlib.suppress(KeyError):
            MODEL_PHASE.remove(ns, name, p)

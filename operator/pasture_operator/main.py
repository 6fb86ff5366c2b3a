"""kopf wiring only: each handler hands its event to the controller (handlers/).

Console script: `pasture-operator run ...` (see settings.py for the options).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from pasture_operator import settings as run_settings
from pasture_operator.constants import (
    DEPLOYMENT_KIND,
    GROUP,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    MODEL_KIND,
    VERSION,
)
from pasture_operator.gpu_profiles import GpuProfileError
from pasture_operator.handlers import lifecycle

MANAGED = {LABEL_MANAGED_BY: MANAGED_BY}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    await lifecycle.startup(settings, memo)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await lifecycle.cleanup(memo)


@kopf.on.probe(id="queue")
def queue_probe(memo: kopf.Memo, **_: Any) -> int:
    return lifecycle.queue_depth(memo)


@kopf.on.event(GROUP, VERSION, "modeldeployments")
async def on_modeldeployment(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    lifecycle.observe(memo, DEPLOYMENT_KIND, event, body)


@kopf.on.event(GROUP, VERSION, "models")
async def on_model(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, MODEL_KIND, event, body)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def on_deployment(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "Deployment", event, body)


@kopf.on.event("v1", "configmaps", labels=MANAGED)
async def on_configmap(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "ConfigMap", event, body)


@kopf.on.event("v1", "services", labels=MANAGED)
async def on_service(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "Service", event, body)


@kopf.on.event("v1", "pods", labels=MANAGED)
async def on_pod(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "Pod", event, body)


@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=MANAGED)
async def on_pdb(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "PodDisruptionBudget", event, body)


@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
async def on_networkpolicy(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    lifecycle.observe(memo, "NetworkPolicy", event, body)


@kopf.on.event("monitoring.coreos.com", "v1", "servicemonitors", labels=MANAGED)
async def on_servicemonitor(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    lifecycle.observe(memo, "ServiceMonitor", event, body)


@kopf.on.event("inference.networking.k8s.io", "v1", "inferencepools", labels=MANAGED)
async def on_inferencepool(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    lifecycle.observe(memo, "InferencePool", event, body)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
async def on_job(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "Job", event, body)


# All PVCs, not only ours: a Model may read weights from a user's PVC.
@kopf.on.event("v1", "persistentvolumeclaims")
async def on_pvc(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    lifecycle.observe(memo, "PersistentVolumeClaim", event, body)


def cli(argv: list[str] | None = None) -> None:
    try:
        config = run_settings.from_args(argv)
    except GpuProfileError as e:  # fail fast, before connecting to anything
        raise SystemExit(f"pasture-operator: {e}") from None
    kopf.configure(
        verbose=config.verbose,
        log_format={
            "json": kopf.LogFormat.JSON,
            "plain": kopf.LogFormat.PLAIN,
            "full": kopf.LogFormat.FULL,
        }[config.log_format],
    )
    logging.getLogger("pasture_operator").setLevel(logging.INFO)
    # One line per autoscaler scrape (every pod, every tick) is noise; failures are ours to log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not config.verbose:  # one line per watch event is noise at 200 objects
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(
        kopf.operator(
            clusterwide=not config.namespaces,
            namespaces=config.namespaces,
            standalone=config.peering is None,
            peering_name=config.peering,
            priority=config.priority,
            liveness_endpoint=config.liveness,
            memo=kopf.Memo(run_config=config),
        )
    )


if __name__ == "__main__":
    cli()

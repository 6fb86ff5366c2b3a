"""What the kopf handlers in main.py call: operator start/stop and event intake."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf
from prometheus_client import start_http_server

from pasture_operator.handlers.controller import Controller, ReconcileConfig
from pasture_operator.kube.client import Kube, KubeError, load_api_client
from pasture_operator.settings import OperatorCommandLine, apply_kopf_settings

logger = logging.getLogger("pasture_operator")


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo) -> None:
    config: OperatorCommandLine = memo.get("run_config") or OperatorCommandLine()
    apply_kopf_settings(settings, config)
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.metrics_host)
    kube = Kube(load_api_client(config.kubeconfig))
    if config.gpu_profiles_path:
        logger.info(
            "GPU profiles from %s: %s",
            config.gpu_profiles_path,
            ", ".join(sorted(config.gpu_profiles)) or "none",
        )
    controller = Controller(
        kube,
        ReconcileConfig(
            default_image=config.default_image,
            downloader_image=config.downloader_image,
            workers=config.workers,
            gpu_profiles=config.gpu_profiles,
            namespaces=tuple(config.namespaces),
            resync_seconds=config.resync_seconds,
            servicemonitor_labels=config.servicemonitor_labels,
            operator_namespace=config.operator_namespace,
            hf_endpoint=config.hf_endpoint,
        ),
    )
    await ensure_peering(kube, config)
    controller.start()
    memo["controller"] = controller


async def ensure_peering(kube: Kube, config: OperatorCommandLine) -> None:
    """kopf needs its peering object to exist; create it (best effort: the CRD may be absent)."""
    if not config.peering:
        return
    if config.namespaces:
        objs: list[dict[str, Any]] = [
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "KopfPeering",
                "metadata": {"name": config.peering, "namespace": ns},
            }
            for ns in config.namespaces
            if not any(ch in ns for ch in "*?[!")
        ]
    else:
        objs = [
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "ClusterKopfPeering",
                "metadata": {"name": config.peering},
            }
        ]
    for obj in objs:
        try:
            await kube.apply(obj)
        except KubeError as e:
            logger.warning("peering object %s not created: %s", obj["metadata"]["name"], e)


async def cleanup(memo: kopf.Memo) -> None:
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.stop()
        controller.kube.close()


def queue_depth(memo: kopf.Memo) -> int:
    controller: Controller | None = memo.get("controller")
    return len(controller.queue) if controller is not None else 0


def observe(memo: kopf.Memo, kind: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    controller: Controller | None = memo.get("controller")
    if controller is None:  # events before startup finished: the initial listing repeats them
        return
    raw = event.get("object") or body
    controller.observe(kind, event.get("type"), raw)

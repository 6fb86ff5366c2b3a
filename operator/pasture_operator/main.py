"""kopf wiring only: each handler hands its event to the controller (handlers/).

The watches are registered from one table, spec/child_kinds.py.

Console script: `pasture-operator run ...` (see settings.py for the options).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from pasture_operator import settings as run_settings
from pasture_operator.catalog import CatalogError
from pasture_operator.gpu_profiles import GpuProfileError
from pasture_operator.handlers import lifecycle
from pasture_operator.spec import child_kinds


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    await lifecycle.startup(settings, memo)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await lifecycle.cleanup(memo)


@kopf.on.probe(id="queue")
def queue_probe(memo: kopf.Memo, **_: Any) -> int:
    return lifecycle.queue_depth(memo)


async def on_watched(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, param: str = "", **_: Any
) -> None:
    """A watch event of the kind `param` (one registration per watched row below)."""
    lifecycle.observe(memo, param, event, body)


def _register_watches() -> None:
    for row, watch in child_kinds.watches():
        kopf.on.event(
            row.api_version,  # kopf reads "group/version" as the two
            row.plural,
            id=f"watch-{row.plural}",
            param=row.kind,
            labels=dict(watch.labels) or None,
        )(on_watched)


_register_watches()


def cli(argv: list[str] | None = None) -> None:
    try:
        config = run_settings.from_args(argv)
    except (GpuProfileError, CatalogError) as e:  # fail fast, before connecting to anything
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

"""POST /api/pull (and create from a source): the Model and ModelDeployment
the gateway makes for a name, then Ollama's progress lines from the Model's
live status until it is Ready and routable, or its verdict."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..identity import Identity
from ..kube.store import Store
from ..kube.writer import KubeError, KubeWriter
from ..protocol import pull_progress as pp
from ..routing.table import Found
from .manage_plan import (
    ManageDefaults,
    deployment_object,
    managed,
    model_object,
    object_name,
    source_for,
)

Line = dict[str, Any]


@dataclass
class Manage:
    """What every management use case needs."""

    store: Store
    writer: KubeWriter
    defaults: ManageDefaults
    timeout: float = 3600.0  # a pull's wait for its download

    def model(self, ollama_name: str) -> dict[str, Any] | None:
        return self.store.get("Model", self.defaults.namespace, object_name(ollama_name))

    async def changed(self, within: float = 1.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.store.wait_changed(), within)

    async def remove_made(self, name: str, caller: Identity, why: str) -> None:
        """Delete what a pull made, each deletion an Event naming the caller."""
        ns, obj = self.defaults.namespace, object_name(name)
        for kind in ("ModelDeployment", "Model"):
            made = self.store.get(kind, ns, obj)
            if made is not None:
                await self.writer.event(made, "Deleted", f"deleted by {caller.key_id} ({why})")
            with contextlib.suppress(KubeError):
                await self.writer.delete(kind, ns, obj)


async def _make(
    m: Manage, name: str, caller: Identity, extra: Mapping[str, Any], source: Mapping[str, Any]
) -> bool:
    """Create the Model and its ModelDeployment; False when a Model of that name
    already exists (a pull in progress: follow it)."""
    body = model_object(name, source, m.defaults, caller.key_id, extra)
    try:
        made = await m.writer.create(body)
    except KubeError as e:
        if e.status == 409:
            return False
        raise
    await m.writer.event(made, "Created", f"created by {caller.key_id} (ollama pull {name})")
    md = deployment_object(name, str(made["metadata"].get("uid") or ""), m.defaults, caller.key_id)
    md_made = await m.writer.create(md)
    await m.writer.event(md_made, "Created", f"created by {caller.key_id} for {name}")
    return True


async def _follow(m: Manage, name: str) -> AsyncIterator[Line]:
    """Progress lines until the Model is Ready and the name routable, or an error line."""
    deadline = time.monotonic() + m.timeout
    last: Line | None = None
    while time.monotonic() < deadline:
        obj = m.model(name)
        p = pp.ModelProgress.of(obj)
        uid = str(((obj or {}).get("metadata") or {}).get("uid") or "")
        line = pp.blob_line(pp.blob_digest(m.defaults.namespace, object_name(name), uid), p)
        if line is not None and line != last:
            last = line
            yield line
        if p.failed:
            yield pp.error_line(pp.failure_text(p))
            return
        if p.ready and isinstance(m.store.table.resolve(name), Found):
            for done in pp.finish_lines():
                yield done
            return
        await m.changed()
    yield pp.error_line(f"timed out after {m.timeout:.0f}s waiting for {name!r} to download")


async def pull(
    m: Manage,
    name: str,
    caller: Identity,
    extra: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> AsyncIterator[Line]:
    """Ollama's pull stream for `name` (weights from `source`, else the name
    itself); what this call made is deleted again if the name turns out unknown
    or the download fails."""
    yield pp.manifest_line()
    if isinstance(m.store.table.resolve(name), Found) and not extra:
        for line in pp.finish_lines():
            yield line
        return
    existing = m.model(name)
    made = False
    if existing is None or not managed(existing):
        try:
            made = await _make(m, name, caller, extra or {}, source or source_for(name))
        except KubeError as e:
            yield pp.error_line(f"could not create the model: {e.message}")
            return
    async for line in _follow(m, name):
        if "error" in line and (made or managed(existing)):  # never a person's Model
            await m.remove_made(name, caller, f"ollama pull {name} failed")
        yield line

"""POST /api/create and /api/copy. `from` an existing model makes a variant
Model on the same weights, listed in that model's ModelDeployment (its pods
serve it); `from` a source pulls a new Model; copy adds an alias (a new name
for the same Model, settings and pods)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx

from ..identity import Identity
from ..kube.writer import KubeError
from ..protocol import pull_progress as pp
from ..protocol.errors import ErrorReply
from ..routing.names import display_name, normalize
from ..routing.objects import Deployment
from ..routing.table import Found
from .manage_plan import CreatePlan, managed, source_for, variant_object
from .manage_pull import Line, Manage, pull

GATEWAY_ALIASES = "pasture.dev/gateway-aliases"  # aliases `ollama cp` added


def _served(m: Manage, name: str) -> Deployment | None:
    found = m.store.table.resolve(name)
    return found.deployment if isinstance(found, Found) else None


async def _update(m: Manage, plan: CreatePlan, caller: Identity) -> AsyncIterator[Line]:
    """Creating a name the gateway made before replaces its settings (as Ollama
    overwrites a model): a new generation of the same Model."""
    model = m.model(plan.model) or {}
    meta = model.get("metadata") or {}
    try:
        await m.writer.patch("Model", meta["namespace"], meta["name"], {"spec": dict(plan.fields)})
    except (KubeError, httpx.HTTPError) as e:
        yield pp.error_line(f"could not update {plan.model!r}: {e}")
        return
    await m.writer.event(model, "Updated", f"settings replaced by {caller.key_id} (ollama create)")
    yield {"status": "writing manifest"}
    yield {"status": "success"}


async def create(m: Manage, plan: CreatePlan, caller: Identity) -> AsyncIterator[Line]:
    if managed(m.model(plan.model)) and _served(m, plan.model) is not None:
        async for line in _update(m, plan, caller):
            yield line
        return
    base = _served(m, plan.source)
    if base is None:
        async for line in pull(m, plan.model, caller, plan.fields, source_for(plan.source)):
            yield line
        return
    model = m.store.get("Model", base.namespace, base.model) or {}
    digest = pp.blob_digest(base.namespace, base.model, str(model.get("metadata", {}).get("uid")))
    yield {"status": f"using existing layer {digest}"}
    body = variant_object(plan.model, model, m.defaults, caller.key_id, plan.fields)
    body["metadata"]["namespace"] = base.namespace  # beside the ModelDeployment that serves it
    if (body["spec"]["source"].keys() & {"huggingFace", "pvc"}) and "cache" in body["spec"]:
        del body["spec"]["cache"]  # the base's pods read the base's weights: no second copy
    try:
        made = await m.writer.create(body)
        md = m.store.get("ModelDeployment", base.namespace, base.name) or {}
        variants = [*((md.get("spec") or {}).get("variants") or ()), body["metadata"]["name"]]
        await m.writer.patch("ModelDeployment", base.namespace, base.name,
                             {"spec": {"variants": variants}})  # fmt: skip
    except (KubeError, httpx.HTTPError) as e:  # the stream's last line says why
        yield pp.error_line(f"could not create {plan.model!r}: {e}")
        return
    await m.writer.event(made, "Created", f"created by {caller.key_id} from {plan.source}")
    await m.writer.event(md, "VariantAdded", f"{plan.model} added by {caller.key_id}")
    yield {"status": "creating new layer " + pp.blob_digest(m.defaults.namespace, plan.model, "")}
    async for line in _wait_served(m, plan.model):
        yield line


async def _wait_served(m: Manage, name: str) -> AsyncIterator[Line]:
    deadline = time.monotonic() + m.timeout
    while _served(m, name) is None:
        p = pp.ModelProgress.of(m.model(name))
        if p.failed:
            yield pp.error_line(pp.failure_text(p))
            return
        if time.monotonic() > deadline:
            yield pp.error_line(f"timed out waiting for {name!r} to be served")
            return
        await m.changed()
    yield {"status": "writing manifest"}
    yield {"status": "success"}


async def copy(m: Manage, source: str, dest: str, caller: Identity) -> ErrorReply | None:
    base = _served(m, source)
    if base is None:
        return ErrorReply(404, f'model "{source}" not found')
    if _served(m, dest) is not None:
        return ErrorReply(409, f'model "{dest}" already exists; `ollama rm {dest}` first')
    model = m.store.get("Model", base.namespace, base.model)
    if model is None:
        return ErrorReply(404, f'model "{source}" not found')
    spec, meta = model.get("spec") or {}, model.get("metadata") or {}
    aliases = [*(spec.get("aliases") or ()), display_name(dest)]
    mine = [a for a in (meta.get("annotations") or {}).get(GATEWAY_ALIASES, "").split(",") if a]
    body = {
        "metadata": {"annotations": {GATEWAY_ALIASES: ",".join([*mine, normalize(dest)])}},
        "spec": {"aliases": aliases},
    }
    try:
        await m.writer.patch("Model", base.namespace, base.model, body)
    except (KubeError, httpx.HTTPError) as e:
        return ErrorReply(500, f"could not copy: {e}")
    await m.writer.event(model, "Copied", f"alias {dest} added by {caller.key_id} (ollama cp)")
    return None

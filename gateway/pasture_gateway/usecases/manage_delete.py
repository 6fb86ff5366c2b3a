"""DELETE /api/delete and `ollama stop`. Delete removes only what the gateway
made (its Model and ModelDeployment, a variant it added, an alias `ollama cp`
added); a name a person's objects serve is refused, naming them. Stop tells
the operator `keep_alive: 0` (scale to zero once idle, where the
ModelDeployment allows unloading) and never wakes a model."""

from __future__ import annotations

from typing import Any

from ..identity import Identity
from ..protocol.errors import ErrorReply
from ..routing.names import display_name, normalize
from ..routing.objects import Deployment
from ..routing.table import Conflict, Found
from .demand import Demand
from .manage_create import GATEWAY_ALIASES
from .manage_plan import managed
from .manage_pull import Manage


def _served_name(model: dict[str, Any]) -> str:
    spec, status = model.get("spec") or {}, model.get("status") or {}
    name = (model.get("metadata") or {}).get("name") or ""
    return normalize(str(status.get("servedName") or spec.get("servedName") or name))


def _refuse(name: str, what: str) -> ErrorReply:
    return ErrorReply(
        403,
        f"model '{name}' is served by {what}, which a person made; the gateway removes only "
        "models it created (`ollama pull` / `create` / `cp`): delete it with kubectl",
    )


async def _drop_alias(m: Manage, name: str, model: dict[str, Any], caller: Identity) -> bool:
    meta, spec = model.get("metadata") or {}, model.get("spec") or {}
    mine = [a for a in (meta.get("annotations") or {}).get(GATEWAY_ALIASES, "").split(",") if a]
    if normalize(name) not in mine:
        return False
    aliases = [a for a in spec.get("aliases") or () if normalize(a) != normalize(name)]
    rest = ",".join(a for a in mine if a != normalize(name))
    body = {"metadata": {"annotations": {GATEWAY_ALIASES: rest}}, "spec": {"aliases": aliases}}
    await m.writer.patch("Model", meta["namespace"], meta["name"], body)
    await m.writer.event(model, "AliasRemoved", f"alias {name} removed by {caller.key_id}")
    return True


async def _drop_variant(
    m: Manage, d: Deployment, model: dict[str, Any], caller: Identity
) -> ErrorReply | None:
    name = str(model["metadata"]["name"])
    if not managed(model):
        return _refuse(name, f"Model {d.namespace}/{name}")
    md = m.store.get("ModelDeployment", d.namespace, d.name) or {}
    variants = [v for v in (md.get("spec") or {}).get("variants") or () if v != name]
    await m.writer.patch("ModelDeployment", d.namespace, d.name, {"spec": {"variants": variants}})
    await m.writer.event(md, "VariantRemoved", f"{name} removed by {caller.key_id}")
    await m.writer.event(model, "Deleted", f"deleted by {caller.key_id} (ollama rm)")
    await m.writer.delete("Model", d.namespace, name)
    return None


async def _drop_base(m: Manage, name: str, d: Deployment, caller: Identity) -> ErrorReply | None:
    md = m.store.get("ModelDeployment", d.namespace, d.name)
    if not managed(md):
        return _refuse(name, f"ModelDeployment {d.key}")
    variants = (md or {}).get("spec", {}).get("variants") or ()
    if variants:
        return ErrorReply(
            409, f"model '{name}' is the base of {', '.join(variants)}: `ollama rm` those first"
        )
    model = m.store.get("Model", d.namespace, d.model)
    for kind, obj in (("ModelDeployment", md), ("Model", model)):
        if obj is not None and managed(obj):
            await m.writer.event(obj, "Deleted", f"deleted by {caller.key_id} (ollama rm {name})")
            await m.writer.delete(kind, d.namespace, str(obj["metadata"]["name"]))
    return None


async def delete(m: Manage, name: str, caller: Identity) -> ErrorReply | None:
    found = m.store.table.resolve(name)
    if isinstance(found, Conflict):
        return ErrorReply(409, f"model '{name}' is served by more than one ModelDeployment")
    if not isinstance(found, Found):
        if managed(m.model(name)):  # pulled but never served (a failed download)
            await m.remove_made(name, caller, f"ollama rm {name}")
            return None
        return ErrorReply(404, f"model '{name}' not found")
    d = found.deployment
    names = (d.model, *((m.store.get("ModelDeployment", d.namespace, d.name) or {})
                        .get("spec", {}).get("variants") or ()))  # fmt: skip
    for obj_name in names:
        model = m.store.get("Model", d.namespace, obj_name)
        if model is None:
            continue
        if await _drop_alias(m, name, model, caller):
            return None
        if _served_name(model) == normalize(name):
            if obj_name == d.model:
                return await _drop_base(m, name, d, caller)
            return await _drop_variant(m, d, model, caller)
    return _refuse(name, f"ModelDeployment {d.key}")


def stop(m_store_table: Any, demand: Demand, name: str) -> ErrorReply | Deployment:
    """keep_alive 0 for the ModelDeployment serving `name`; never wakes it."""
    found = m_store_table.resolve(name)
    if not isinstance(found, Found):
        return ErrorReply(404, f"model '{display_name(name)}' not found")
    demand.note(found.deployment, 0, urgent=True)
    return found.deployment

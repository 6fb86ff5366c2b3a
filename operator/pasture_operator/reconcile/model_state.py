"""Can a ModelDeployment's Models be served: do they exist, resolve, share base
weights and are they Ready? Pure: the parsed spec and the Model bodies in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pasture_operator.reconcile.name_conflicts import served_names
from pasture_operator.reconcile.resolve import ResolveError, resolve_spec
from pasture_operator.redact import redact
from pasture_operator.spec.deployment import DeploymentSpec
from pasture_operator.spec.model import ModelSpec
from pasture_operator.spec.resolved import ResolvedModel


@dataclass(frozen=True)
class ModelState:
    base: ResolvedModel | None
    variants: tuple[ResolvedModel, ...]
    ready: bool
    reason: str
    message: str
    invalid: str | None = None  # an InvalidSpec message about this ModelDeployment

    @property
    def served_names(self) -> list[str]:
        # Aliases too: the gateway routes by this list (reconcile/name_conflicts.py).
        return served_names((self.base, *self.variants) if self.base else ())


def _model_phase(body: Mapping[str, Any]) -> tuple[str, str]:
    st = body.get("status") or {}
    seen, generation = st.get("observedGeneration"), (body.get("metadata") or {}).get("generation")
    if seen is not None and generation is not None and int(seen) < int(generation):
        # The phase describes the previous spec (e.g. a source edit not yet looked at):
        # acting on it would roll pods to a source nobody has checked.
        return "Pending", "its new spec is not reconciled yet"
    # Quoted into this object's status and Events: redacted again (a status written
    # by an older operator may still carry URL credentials).
    message = redact(str(st.get("message") or "status not reported yet"))
    return str(st.get("phase") or "Pending"), message


def _resolve_all(
    names: tuple[str, ...], models: Mapping[str, Mapping[str, Any]]
) -> list[ResolvedModel] | ModelState:
    """Every named Model resolved, or the state saying which one is missing or broken."""
    resolved: list[ResolvedModel] = []
    for n in names:
        body = models.get(n)
        if body is None:
            return ModelState(None, (), False, "ModelNotFound", f"Model {n!r} does not exist")
        try:
            resolved.append(resolve_spec(ModelSpec.from_object(body)))
        except ResolveError as e:
            return ModelState(None, (), False, "ModelFailed", f"Model {n!r}: {e.message}")
    return resolved


def _invalid(base: ResolvedModel, variants: tuple[ResolvedModel, ...]) -> ModelState | None:
    """The InvalidSpec state when the variants cannot be served with the base."""
    for v in variants:
        if v.base_key != base.base_key:
            return ModelState(
                base,
                variants,
                False,
                "InvalidSpec",
                f"variant {v.name!r} uses {v.source_text!r}, not the base "
                f"weights {base.source_text!r} of {base.name!r}",
                invalid=f"variant {v.name!r} does not share base weights",
            )
    served = [m.served_name for m in (base, *variants)]
    if len(set(served)) != len(served):
        return ModelState(
            base,
            variants,
            False,
            "InvalidSpec",
            f"served names collide: {', '.join(served)}",
            invalid="two models have the same served name",
        )
    return None


def model_state(spec: DeploymentSpec, models: Mapping[str, Mapping[str, Any]]) -> ModelState:
    """The base Model and its variants, resolved, and whether pods may serve them."""
    names = spec.model_names
    resolved = _resolve_all(names, models)
    if isinstance(resolved, ModelState):
        return resolved
    base, variants = resolved[0], tuple(resolved[1:])
    invalid = _invalid(base, variants)
    if invalid is not None:
        return invalid
    for n in names:
        phase, msg = _model_phase(models[n])
        if phase == "Failed":
            return ModelState(base, variants, False, "ModelFailed", f"Model {n!r}: {msg}")
        if phase != "Ready":
            return ModelState(
                base, variants, False, "ModelNotReady", f"Model {n!r} is {phase}: {msg}"
            )
    extra = f" with {len(variants)} variant(s)" if variants else ""
    return ModelState(base, variants, True, "ModelReady", f"Model {base.name!r}{extra} is ready")

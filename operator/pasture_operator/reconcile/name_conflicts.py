"""Served names claimed by more than one ModelDeployment of a namespace.

The gateway routes a request by its `model` name to the ModelDeployment whose
`status.servedNames` lists it (GATEWAY-CONTRACT item 1). A name two
ModelDeployments both serve cannot be routed: the gateway refuses it (409) and
the operator reports it on both (condition NameConflict and an Event). Names
are compared as Ollama looks them up (pasture_runtime/names.py `normalize`,
repeated here because the operator and the runtime are independent packages):
case-insensitive, `:latest` when there is no tag, the default registry prefix
dropped. So `Tiny`, `tiny` and `tiny:latest` are one name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pasture_operator.reconcile.resolve import ResolvedModel

REASON = "NameConflict"
_DEFAULT_PREFIXES = ("registry.ollama.ai/library/", "library/")


def normalize(name: str) -> str:
    """Ollama's lookup key for a model name (same rules as the runtime's)."""
    n = name.strip().lower()
    for prefix in _DEFAULT_PREFIXES:
        if n.startswith(prefix):
            n = n[len(prefix) :]
    if ":" not in n.rsplit("/", 1)[-1]:
        n += ":latest"
    return n


def served_names(models: Iterable[ResolvedModel]) -> list[str]:
    """Every name the pods answer to: each model's served name, then its aliases."""
    out: list[str] = []
    for m in models:
        for name in (m.served_name, *[str(a) for a in m.entry.get("aliases") or []]):
            if name not in out:
                out.append(name)
    return out


@dataclass(frozen=True)
class NameConflict:
    name: str  # normalized
    others: tuple[str, ...]  # the other ModelDeployments serving it, sorted

    @property
    def message(self) -> str:
        who = ", ".join(f"ModelDeployment {o!r}" for o in self.others)
        return f"served name {self.name!r} is also served by {who}; the gateway refuses it"


def name_conflicts(served: Mapping[str, Sequence[str]]) -> dict[str, list[NameConflict]]:
    """Per ModelDeployment (by name), the names it shares with others; only those with any.

    `served` maps each ModelDeployment of one namespace to its servedNames."""
    owners: dict[str, set[str]] = {}
    for md, names in served.items():
        for name in names:
            owners.setdefault(normalize(name), set()).add(md)
    out: dict[str, list[NameConflict]] = {}
    for name, mds in sorted(owners.items()):
        if len(mds) < 2:
            continue
        for md in sorted(mds):
            out.setdefault(md, []).append(NameConflict(name, tuple(sorted(mds - {md}))))
    return out


def summary(conflicts: Sequence[NameConflict]) -> str:
    """One condition message for every conflict of one ModelDeployment."""
    return "; ".join(c.message for c in conflicts)

"""A ModelDeployment whose served names change makes the others in its
namespace look again (a name conflict may have started or ended for them).
The change is known when the operator's own status write returns, and that
result goes into its store at once; the watch event that follows then looks
unchanged. Before this was handled, the requeue was lost whenever the write
returned first, and the first ModelDeployment of a conflicting pair learnt of
the conflict only from an unrelated event or the next resync (a 60 s timeout
in test_kube_name_conflicts failed that way in a full run).

The controller runs against the in-memory fake apiserver of test_object_metrics."""

from __future__ import annotations

from pasture_operator.constants import DEPLOYMENT_KIND
from tests.operator.helpers import md, model
from tests.operator.test_object_metrics import controller


async def test_a_status_write_that_changes_served_names_requeues_the_others() -> None:
    c = controller()
    c.store.put("Model", model())
    c.store.put(DEPLOYMENT_KIND, md("first"))
    c.store.put(DEPLOYMENT_KIND, md("second"))
    await c.reconcile_deployment("ns", "first")  # second has no served names yet
    assert (DEPLOYMENT_KIND, "ns", "second") in c.queue
    await c.reconcile_deployment("ns", "second")  # sees first's: conflict for second
    assert (DEPLOYMENT_KIND, "ns", "first") in c.queue  # first must look again
    # The watch event of second's status arrives after the write returned: no
    # change against the store then, and nothing else requeues first.
    second = c.store.get(DEPLOYMENT_KIND, "ns", "second")
    assert second is not None
    c.observe(DEPLOYMENT_KIND, "MODIFIED", second)
    await c.reconcile_deployment("ns", "first")
    degraded = [
        cond
        for cond in c.kube.status_patches[-1].get("conditions", [])  # type: ignore[attr-defined]
        if cond["type"] == "Degraded"
    ]
    assert [cond["reason"] for cond in degraded] == ["NameConflict"]


async def test_an_unchanged_status_write_requeues_nothing() -> None:
    c = controller()
    c.store.put("Model", model())
    c.store.put(DEPLOYMENT_KIND, md("first"))
    c.store.put(DEPLOYMENT_KIND, md("other", modelRef={"name": "tiny"}))
    await c.reconcile_deployment("ns", "first")
    queued = len(c.queue)
    await c.reconcile_deployment("ns", "first")  # same names as before: no requeue
    assert len(c.queue) == queued

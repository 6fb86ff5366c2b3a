"""The gateway's management RBAC proven on a real apiserver (issue 14, "Who may"):
with gateway.management.enabled the chart's gateway ServiceAccount (a
TokenRequest token) makes every write `ollama pull / create / cp / rm` makes,
through the gateway's own KubeWriter, in the namespaces it serves (Models,
ModelDeployments owned by their Model, Events), and nothing else: not in a
namespace it does not serve, no other kind, nothing cluster-scoped. Off (the
default) it may create none of them. Both RBAC shapes of the chart: a Role per
served namespace, and a ClusterRole when it serves every namespace."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pasture_gateway.kube.connection import connect
from pasture_gateway.kube.writer import KubeError, KubeWriter
from pasture_gateway.usecases.manage_plan import ManageDefaults, deployment_object, model_object
from tests.chart.helpers import CHART, helm, render, sa_kubeconfig
from tests.fixtures.cluster import KubeCluster

pytestmark = pytest.mark.kube

NS = "pasture-system"
# What management writes (routers/manage.py through usecases/manage_*.py).
WRITES = [
    ("create", "models.pasture.dev"), ("patch", "models.pasture.dev"),
    ("delete", "models.pasture.dev"), ("create", "modeldeployments.pasture.dev"),
    ("patch", "modeldeployments.pasture.dev"), ("delete", "modeldeployments.pasture.dev"),
    ("create", "events"),
]  # fmt: skip
# Never, management on or off, served namespace or not.
NEVER = [
    ("create", "deployments.apps"), ("delete", "deployments.apps"), ("get", "secrets"),
    ("create", "secrets"), ("create", "configmaps"), ("create", "pods"), ("delete", "pods"),
    ("create", "pods/exec"), ("create", "pods/portforward"), ("create", "jobs.batch"),
    ("create", "persistentvolumeclaims"), ("create", "services"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"), ("create", "serviceaccounts/token"),
    ("update", "models.pasture.dev"), ("deletecollection", "models.pasture.dev"),
    ("patch", "models.pasture.dev/status"), ("patch", "modeldeployments.pasture.dev/status"),
    ("patch", "events"), ("delete", "events"),
]  # fmt: skip
CLUSTER_SCOPED = [
    ("create", "namespaces"), ("delete", "namespaces"), ("create", "nodes"),
    ("create", "persistentvolumes"), ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
]  # fmt: skip

Check = tuple[str, str, str | None]  # verb, resource[/subresource], namespace (None: cluster)


@pytest.fixture(scope="module")
def namespaces(chart_cluster: KubeCluster) -> Iterator[tuple[str, str, str]]:
    """Two namespaces the gateway serves (in the Role mode) and one it does not."""
    tag = uuid.uuid4().hex[:6]
    made = (f"served-a-{tag}", f"served-b-{tag}", f"other-{tag}")
    for ns in made:
        chart_cluster.kubectl("create", "namespace", ns)
    try:
        yield made
    finally:
        for ns in made:
            chart_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def install(
    chart_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Path]]:
    """helm upgrade --install with these values; the gateway ServiceAccount's kubeconfig."""

    def upgrade(*values: str) -> Path:
        helm(
            "upgrade", "--install", "pasture", str(CHART), "-n", NS, "--create-namespace",
            "--reset-values", *values, env=chart_cluster.env,
        )  # fmt: skip
        chart_cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            "crd/models.pasture.dev", "crd/modeldeployments.pasture.dev",
        )  # fmt: skip
        dep = json.loads(
            chart_cluster.kubectl(
                "-n", NS, "get", "deployment/pasture-gateway", "-o", "json"
            ).stdout
        )
        sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
        return sa_kubeconfig(chart_cluster, NS, sa, tmp_path_factory.mktemp("gw") / "kc")

    try:
        yield upgrade
    finally:
        helm("uninstall", "pasture", "-n", NS, "--wait", env=chart_cluster.env, check=False)


def can(cluster: KubeCluster, kubeconfig: Path, check: Check) -> bool:
    """`kubectl auth can-i` as the ServiceAccount itself (a SelfSubjectAccessReview)."""
    verb, resource, ns = check
    resource, _, sub = resource.partition("/")  # kubectl reads TYPE/NAME: a subresource is a flag
    where = (["-n", ns] if ns else []) + ([f"--subresource={sub}"] if sub else [])
    out = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "auth", "can-i",
         verb, resource, *where],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    answer = out.stdout.strip()
    assert answer in ("yes", "no"), (check, out.stdout, out.stderr)
    return answer == "yes"


def assert_answers(cluster: KubeCluster, kc: Path, expected: dict[Check, bool]) -> None:
    """Every check answers as expected (RBAC changes reach the authorizer within seconds)."""
    deadline = time.monotonic() + 30
    while True:
        wrong = {c: want for c, want in expected.items() if can(cluster, kc, c) != want}
        if not wrong or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert wrong == {}, "(check: expected) pairs the apiserver answered otherwise"


def table(served: list[str], unserved: list[str], manage: bool) -> dict[Check, bool]:
    out: dict[Check, bool] = {}
    for ns in served:
        out |= {
            (v, r, ns): manage
            for v, r in WRITES
            if (v, r) != ("patch", "modeldeployments.pasture.dev")
        }
        out[("patch", "modeldeployments.pasture.dev", ns)] = True  # demand annotations, always
        out[("patch", "modeldeployments.pasture.dev/scale", ns)] = True  # waking, always
        out |= {(v, r, ns): False for v, r in NEVER}
    for ns in unserved:
        out |= {(v, r, ns): False for v, r in [*WRITES, *NEVER]}
    out |= {(v, r, None): False for v, r in CLUSTER_SCOPED}
    return out


async def _writes(kubeconfig: Path, ns: str) -> list[str]:
    """What `ollama pull`, `cp`, `create FROM`, `rm` write, with the gateway's own
    client and object builders; returns the Events' messages it recorded."""
    name = f"proof-{uuid.uuid4().hex[:6]}"
    async with connect(str(kubeconfig)) as client:
        w = KubeWriter(client)
        d = ManageDefaults(namespace=ns, cache_size="1Gi")
        made = await w.create(model_object(name, {"library": "tiny"}, d, "ci-bot"))
        uid = str(made["metadata"]["uid"])
        # Owned by its Model (OwnerReferencesPermissionEnforcement is on in this cluster).
        md = await w.create(deployment_object(name, uid, d, "ci-bot"))
        assert md["metadata"]["ownerReferences"][0]["uid"] == uid
        await w.patch("Model", ns, name, {"spec": {"aliases": [f"{name}-copy"]}})  # cp
        await w.patch("ModelDeployment", ns, name, {"spec": {"variants": []}})  # rm variant
        messages = [f"created by ci-bot ({name})", f"deleted by ci-bot ({name})"]
        await w.event(made, "Created", messages[0])
        await w.event(md, "Deleted", messages[1])
        assert await w.delete("ModelDeployment", ns, name)
        assert await w.delete("Model", ns, name)
    return messages


async def _refused(kubeconfig: Path, ns: str) -> int:
    """The status the apiserver answers the gateway's Model create in `ns`."""
    async with connect(str(kubeconfig)) as client:
        body = model_object("refused", {"library": "tiny"}, ManageDefaults(namespace=ns), "x")
        try:
            await KubeWriter(client).create(body)
        except KubeError as e:
            return e.status
    return 201


def _events(cluster: KubeCluster, ns: str) -> str:
    return cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout


def test_management_on_writes_only_models_where_it_serves_a_role_each(
    chart_cluster: KubeCluster,
    install: Callable[..., Path],
    namespaces: tuple[str, str, str],
) -> None:
    a, b, other = namespaces
    kc = install(
        "--set", "gateway.management.enabled=true", "--set", f"gateway.namespaces={{{a},{b}}}"
    )
    assert_answers(chart_cluster, kc, table([a, b], [other], manage=True))
    # Nothing namespaced anywhere: the Roles are per namespace.
    assert not can(chart_cluster, kc, ("create", "models.pasture.dev", None))
    for ns in (a, b):
        for message in asyncio.run(_writes(kc, ns)):
            assert message in _events(chart_cluster, ns)
    assert asyncio.run(_refused(kc, other)) == 403


def test_management_on_everywhere_with_a_clusterrole(
    chart_cluster: KubeCluster,
    install: Callable[..., Path],
    namespaces: tuple[str, str, str],
) -> None:
    a, _, other = namespaces
    kc = install("--set", "gateway.management.enabled=true")
    assert_answers(chart_cluster, kc, table([a, other], [], manage=True))
    for message in asyncio.run(_writes(kc, other)):
        assert message in _events(chart_cluster, other)
    # Every namespace includes the release's own: still no Secrets, Deployments, Roles.
    assert_answers(chart_cluster, kc, {(v, r, NS): False for v, r in NEVER})


@pytest.mark.parametrize("served", [False, True], ids=["clusterrole", "roles"])
def test_management_off_by_default_creates_nothing(
    chart_cluster: KubeCluster,
    install: Callable[..., Path],
    namespaces: tuple[str, str, str],
    served: bool,
) -> None:
    a, b, other = namespaces
    values = ("--set", f"gateway.namespaces={{{a},{b}}}") if served else ()
    kc = install(*values)
    assert_answers(chart_cluster, kc, table([a, b], [other] if served else [], manage=False))
    assert asyncio.run(_refused(kc, a)) == 403


def test_pulled_models_go_only_where_the_gateway_serves() -> None:
    """A management namespace outside the served ones fails at render time: the
    gateway would neither watch nor be let write the Models it pulls there."""
    served = ("--set", "gateway.management.enabled=true", "--set", "gateway.namespaces={a,b}")
    with pytest.raises(AssertionError, match='namespace "c" is not a namespace the gateway serves'):
        render(*served, "--set", "gateway.management.namespace=c")
    assert render(*served, "--set", "gateway.management.namespace=b")
    # Serving every namespace (a ClusterRole), any namespace will do.
    assert render("--set", "gateway.management.enabled=true",
                  "--set", "gateway.management.namespace=c")  # fmt: skip

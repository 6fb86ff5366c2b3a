"""RBAC proven, not assumed: the operator process runs on this machine with the
credentials of the chart's ServiceAccount (a TokenRequest token) and the arguments
of the chart's Deployment, and reconciles examples/ fully; with one permission
removed from the chart's ClusterRole it fails. Without a cluster: the rendered
rules grant every verb the table of kinds (spec/child_kinds.py) names, and the
apiserver serves every kind of the table as the table says."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pasture_operator.spec.child_kinds import KINDS, KindRow, NeededWhen
from tests.chart.helpers import CHART, helm, render, sa_kubeconfig
from tests.fixtures.cluster import ROOT, KubeCluster
from tests.fixtures.net import free_port

NS = "pasture-system"
ROLE = "clusterrole/pasture-operator"
LISTED = "operator.watchNamespaces={team-a,team-b}"

Grant = tuple[str, str, str]  # API group, resource (or resource/subresource), verb


def needed(rows: tuple[KindRow, ...], mode: NeededWhen) -> list[tuple[KindRow, Grant]]:
    """Every grant the operator needs when watching in `mode`, with its row."""
    out: list[tuple[KindRow, Grant]] = []
    for row in rows:
        if row.needed_when not in ("always", mode):
            continue
        out += [(row, (row.group, row.plural, v)) for v in sorted(row.verbs)]
        for sub, verbs in row.subresources.items():
            out += [(row, (row.group, f"{row.plural}/{sub}", v)) for v in sorted(verbs)]
    return out


def granted(role: dict[str, Any]) -> set[Grant]:
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def operator_rbac(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered objects less the gateway's own (test_gateway_rbac_proof proves those)."""
    return [
        o
        for o in objs
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") != "gateway"
    ]


def missing(objs: list[dict[str, Any]], mode: NeededWhen) -> list[str]:
    """Grants the rendered chart lacks: cluster-scoped kinds from the ClusterRole; namespaced
    ones from it when all namespaces are watched, else from each watched namespace's Role."""
    objs = operator_rbac(objs)
    (cluster_role,) = [o for o in objs if o["kind"] == "ClusterRole"]
    roles = [o for o in objs if o["kind"] == "Role"]
    out = []
    for row, grant in needed(KINDS, mode):
        where = [cluster_role] if mode == "all-namespaces" or not row.namespaced else roles
        out += [
            f"{role['kind']} {role['metadata'].get('namespace', '')}: {grant}"
            for role in where
            if grant not in granted(role)
        ]
    return out


@pytest.mark.parametrize(
    ("extra", "mode"), [((), "all-namespaces"), (("--set", LISTED), "listed-namespaces")]
)
def test_chart_grants_what_the_table_of_kinds_needs(
    extra: tuple[str, ...], mode: NeededWhen
) -> None:
    objs = operator_rbac(render(*extra))
    assert len([o for o in objs if o["kind"] == "Role"]) == (2 if extra else 0)
    assert missing(objs, mode) == []


def test_a_grant_missing_from_the_chart_is_found() -> None:
    """The check above can fail: drop one verb from the rendered ClusterRole."""
    objs = operator_rbac(render())
    (cluster_role,) = [o for o in objs if o["kind"] == "ClusterRole"]
    for rule in cluster_role["rules"]:
        if "jobs" in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "create"]
    assert missing(objs, "all-namespaces") == ["ClusterRole : ('batch', 'jobs', 'create')"]


def _owner_refs_admitted(cluster: KubeCluster, kubeconfig: Path) -> bool:
    """Can the chart's ServiceAccount set blockOwnerDeletion to a ModelDeployment yet?

    OwnerReferencesPermissionEnforcement maps the owner's kind with a discovery
    cache the apiserver resets every 30 s: right after the CRDs are installed it
    refuses every such reference (on OpenShift too; the operator's retries ride it
    out). Tests start once it knows the kind.
    """
    probe = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owner-ref-probe",
            "ownerReferences": [
                {
                    "apiVersion": "pasture.dev/v1alpha1",
                    "kind": "ModelDeployment",
                    "name": "probe",
                    "uid": "00000000-0000-0000-0000-000000000000",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
    }
    out = subprocess.run(
        [
            str(cluster.bin_dir / "kubectl"),
            f"--kubeconfig={kubeconfig}",
            "-n",
            NS,
            "create",
            "-f",
            "-",
        ],
        input=json.dumps(probe),
        capture_output=True,
        text=True,
        timeout=30,
    )
    if out.returncode != 0:
        return False
    cluster.kubectl("-n", NS, "delete", "configmap", "owner-ref-probe", check=False)
    return True


@pytest.mark.kube
def test_apiserver_serves_the_table_of_kinds(
    chart_cluster: KubeCluster, installed: dict[str, Any]
) -> None:
    """Discovery agrees with every row: kind, plural, scope and the verbs we use.
    InferencePool's CRD (optional, rare) is installed for this test only."""
    crd = Path(__file__).resolve().parents[1] / "fixtures" / "inferencepool-crd.yaml"
    chart_cluster.kubectl("apply", "-f", str(crd))
    try:
        chart_cluster.kubectl(
            "wait", "--for=condition=Established", "crd/inferencepools.inference.networking.k8s.io",
            "--timeout=60s", timeout=70,
        )  # fmt: skip
        _discovery_agrees(chart_cluster)
    finally:
        chart_cluster.kubectl("delete", "-f", str(crd), "--wait=true", check=False, timeout=120)


def _discovery_agrees(chart_cluster: KubeCluster) -> None:
    for row in KINDS:
        path = f"/apis/{row.api_version}" if row.group else f"/api/{row.api_version}"
        found = json.loads(chart_cluster.kubectl("get", "--raw", path).stdout)["resources"]
        served = {r["name"]: r for r in found}
        assert row.plural in served, (row.kind, path)
        res = served[row.plural]
        assert (res["kind"], res["namespaced"]) == (row.kind, row.namespaced), row.kind
        assert row.verbs <= set(res["verbs"]), (row.kind, res["verbs"])
        for sub, verbs in row.subresources.items():
            if sub != "finalizers":  # no subresource: RBAC's name for blockOwnerDeletion
                assert verbs <= set(served[f"{row.plural}/{sub}"]["verbs"]), (row.kind, sub)


@pytest.fixture(scope="module")
def installed(
    chart_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    helm(
        "upgrade",
        "--install",
        "pasture",
        str(CHART),
        "-n",
        NS,
        "--create-namespace",
        "--wait",
        "--timeout",
        "120s",
        env=chart_cluster.env,
    )
    dep = json.loads(
        chart_cluster.kubectl("-n", NS, "get", "deployment/pasture-operator", "-o", "json").stdout
    )
    sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = sa_kubeconfig(chart_cluster, NS, sa, tmp_path_factory.mktemp("sa") / "kc")
    deadline = time.monotonic() + 90
    while not _owner_refs_admitted(chart_cluster, kubeconfig):
        assert time.monotonic() < deadline, "blockOwnerDeletion never admitted for the chart's SA"
        time.sleep(2)
    # The tiny model's volume (cluster-scoped PV, applied once).
    chart_cluster.kubectl(
        "apply", "-f", str(ROOT / "examples" / "00-tiny-model-volume.yaml"), "-n", "default"
    )
    try:
        yield dep
    finally:
        helm("uninstall", "pasture", "-n", NS, "--wait", env=chart_cluster.env, check=False)


class Operator:
    """`pasture-operator run` with the chart Deployment's arguments, as the chart's SA."""

    def __init__(self, cluster: KubeCluster, deployment: dict[str, Any], tmp: Path) -> None:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        kubeconfig = sa_kubeconfig(cluster, NS, sa, tmp / "sa.kubeconfig")
        args = [
            a
            for a in container["args"]
            if not a.startswith(("--liveness=", "--metrics-port=", "--log-format="))
        ]
        self.log = tmp / "operator.log"
        # kopf logs in from $KUBECONFIG (it does not see --kubeconfig): set both.
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "pasture-operator"),
                *args,
                "--liveness=none",
                f"--metrics-port={free_port()}",
                "--metrics-host=127.0.0.1",
                "--log-format=plain",
                f"--kubeconfig={kubeconfig}",
            ],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _apply_examples(cluster: KubeCluster) -> str:
    ns = f"rbac-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    for f in ("10-model-tiny.yaml", "20-modeldeployment-tiny.yaml"):
        cluster.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / f))
    # The PVC is namespaced; bind one per namespace to the shared PV's path via its own PV.
    pv = f"pasture-tiny-{ns}"
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadOnlyMany"],
                    "storageClassName": "",
                    "hostPath": {"path": "/var/lib/pasture/tiny-model"},
                    "claimRef": {"namespace": ns, "name": "tiny-model-weights"},
                },
            }
        ),
    )
    cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "tiny-model-weights"},
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "storageClassName": "",
                    "volumeName": pv,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        ),
    )
    return ns


def _remove_examples(cluster: KubeCluster, ns: str | None) -> None:
    """Give back what _apply_examples took: the chart cluster's kwok node has 8
    GPUs, two per example, and later tests on this cluster need theirs."""
    if ns is not None:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "pv", f"pasture-tiny-{ns}", "--wait=false", check=False)


def _ready(cluster: KubeCluster, ns: str, timeout: int) -> bool:
    out = cluster.kubectl(
        "-n",
        ns,
        "wait",
        "--for=condition=Ready",
        "modeldeployment/tiny",
        "model/tiny",
        f"--timeout={timeout}s",
        check=False,
        timeout=timeout + 30,
    )
    return out.returncode == 0


@pytest.mark.kube
def test_operator_reconciles_examples_with_chart_serviceaccount(
    chart_cluster: KubeCluster, installed: dict[str, Any], tmp_path: Path
) -> None:
    op = Operator(chart_cluster, installed, tmp_path)
    ns = None
    try:
        ns = _apply_examples(chart_cluster)
        assert _ready(chart_cluster, ns, 90), op.text()[-3000:]
        for kind in (
            "configmap/tiny-runtime",
            "deployment/tiny",
            "service/tiny",
            "poddisruptionbudget/tiny",
            "servicemonitor/tiny",
        ):
            chart_cluster.kubectl("-n", ns, "get", kind)
        md = json.loads(
            chart_cluster.kubectl("-n", ns, "get", "modeldeployment/tiny", "-o", "json").stdout
        )
        assert md["status"]["readyReplicas"] == 2
        assert md["status"]["endpoint"]
        events = chart_cluster.kubectl("-n", ns, "get", "events", "-o", "json").stdout
        assert "pasture-operator" in events  # Events posted with the SA's permission
        time.sleep(2)
        log = op.text()
        assert op.proc.poll() is None, log[-3000:]
        assert "403" not in log, log[-3000:]
        assert "orbidden" not in log, log[-3000:]
    finally:
        op.stop()
        _remove_examples(chart_cluster, ns)


def _without(role: dict[str, Any], group: str, resource: str, verb: str) -> dict[str, Any]:
    role = copy.deepcopy(role)
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
        role["metadata"].pop(key, None)
    rules = []
    removed = False
    for rule in role["rules"]:
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            removed = True
            rest = [r for r in rule["resources"] if r != resource]
            if rest:
                rules.append({**rule, "resources": rest})
            verbs = [v for v in rule["verbs"] if v != verb]
            if verbs:  # an RBAC rule needs at least one verb
                rules.append({"apiGroups": [group], "resources": [resource], "verbs": verbs})
        else:
            rules.append(rule)
    assert removed, f"the chart grants no {verb} on {group}/{resource}"
    role["rules"] = rules
    return role


@pytest.mark.kube
@pytest.mark.parametrize(
    ("group", "resource", "verb"),
    [
        ("apps", "deployments", "patch"),
        ("pasture.dev", "modeldeployments/status", "patch"),
        # Children set blockOwnerDeletion (OwnerReferencesPermissionEnforcement is on).
        ("pasture.dev", "modeldeployments/finalizers", "update"),
    ],
)
def test_a_missing_permission_fails(
    chart_cluster: KubeCluster,
    installed: dict[str, Any],
    tmp_path: Path,
    group: str,
    resource: str,
    verb: str,
) -> None:
    original = json.loads(chart_cluster.kubectl("get", ROLE, "-o", "json").stdout)
    chart_cluster.kubectl(
        "replace", "-f", "-", input=json.dumps(_without(original, group, resource, verb))
    )
    op = Operator(chart_cluster, installed, tmp_path)
    ns = None
    try:
        ns = _apply_examples(chart_cluster)
        assert not _ready(chart_cluster, ns, 25), "reconciled fully without the permission"
        log = op.text()
        assert "403" in log or "orbidden" in log, log[-3000:]
    finally:
        op.stop()
        _remove_examples(chart_cluster, ns)
        restored = copy.deepcopy(original)
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            restored["metadata"].pop(key, None)
        chart_cluster.kubectl("replace", "-f", "-", input=json.dumps(restored))

"""Operator chaos soak (a script, not a test): does the operator always converge?

    .venv/bin/python bench/operator_chaos.py                 # 200 ModelDeployments, 10 minutes
    .venv/bin/python bench/operator_chaos.py --minutes 3 --count 100

Brings up the local control plane (hack/cluster, loopback pod IPs), one
namespace, one Model and N ModelDeployments (a fifth of them autoscaled, their
pods serving a fake /metrics whose load moves on every scrape:
tests/operator/fake_pod_metrics.py). The operator talks to the apiserver
through a TCP proxy (tests/fixtures/tcp_proxy.py) the soak can sever. Then,
for --minutes, it keeps doing at random, about --rate actions a second:

- edit a ModelDeployment (replicas 1 <-> 2, an engine setting that rolls the
  pods, a Service annotation);
- delete a ModelDeployment (recreated, same name, a few seconds later);
- delete a child (ConfigMap, Deployment, Service, PodDisruptionBudget);
- now and then: restart the operator (SIGTERM, new process), cut the
  operator's connection for a few seconds (a watch gap) while deleting
  children, or restart the kube-apiserver (then the controller-manager and
  kwok, whose informers back off for long after an outage; their recovery is
  not what this measures).

Two kwok nodes are added to hack/cluster's two (110 pods each), so that pods
fit. Then it stops the chaos and waits (--settle seconds at most) for:
- every ModelDeployment `Ready=True` with `observedGeneration == generation`;
- no missing child: each has ConfigMap `X-runtime`, Deployment `X`, Service
  `X` (and PodDisruptionBudget `X` with replicas > 1), each owned by the
  ModelDeployment's current UID, the Deployment's replicas equal to the spec's;
- no orphan: every object labelled `pasture.dev/deployment` in the namespace
  belongs to a ModelDeployment that exists, by UID.
Status writes are counted across operator processes (its own counter): per
minute during the chaos, and per ModelDeployment per minute at rest
(--rest-seconds) after it; at rest also apiserver-side, from a watch of the
ModelDeployments (changes per ModelDeployment per minute, autoscaled or not).
Prints one JSON summary line and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.operator_convergence import (  # noqa: E402
    POD_CIDR,
    _free_port,
    _operator_counters,
    _pod_ips,
)
from tests.fixtures.tcp_proxy import TcpProxy  # noqa: E402
from tests.operator.fake_pod_metrics import FakePodMetrics, exposition  # noqa: E402

GROUP, VERSION = "pasture.dev", "v1alpha1"
LABEL = "pasture.dev/deployment"
AUTOSCALED = {"enabled": True, "minReplicas": 1, "maxReplicas": 2, "target": 4, "interval": 2}
CHILD_KINDS = ("configmap", "deployment", "service", "poddisruptionbudget")


class Cluster:
    def __init__(self, name: str, kubeconfig: str, bin_dir: str) -> None:
        self.name, self.kubeconfig, self.bin_dir = name, kubeconfig, bin_dir
        self.env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        }

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = False, timeout: float = 120
    ) -> Any:
        try:
            return subprocess.run(
                [f"{self.bin_dir}/kubectl", *args],
                env=self.env,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=check,
            )
        except subprocess.TimeoutExpired:
            if check:
                raise
            # An apiserver busy or restarting: the soak goes on (the checks retry).
            return subprocess.CompletedProcess(args, 124, "", "timed out")

    def get(self, ns: str, *what: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", "-n", ns, *what, "-o", "json")
        if out.returncode != 0:
            return []
        data = json.loads(out.stdout)
        return list(data.get("items", [data]))

    def hack(self, *args: str) -> None:
        subprocess.run(
            [str(ROOT / "hack/cluster"), *args, "--name", self.name],
            capture_output=True,
            timeout=180,
            check=False,
        )


class Operator:
    """The operator process, restartable; counters summed over its lives."""

    def __init__(self, ns: str, kubeconfig: Path, log: Path) -> None:
        self.ns, self.kubeconfig, self.log = ns, kubeconfig, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.past_writes = 0.0
        self.restarts = 0

    def start(self) -> None:
        self.port = _free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/pasture-operator"),
                    "run",
                    "-n",
                    self.ns,
                    "--standalone",
                    "--metrics-host",
                    "127.0.0.1",
                    "--metrics-port",
                    str(self.port),
                    "--liveness",
                    f"http://127.0.0.1:{_free_port()}/healthz",
                    "--log-format",
                    "plain",
                    "--kubeconfig",
                    str(self.kubeconfig),
                ],
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.writes()
                return
            except OSError:
                time.sleep(0.5)
        raise SystemExit("operator metrics never came up")

    def writes(self) -> float:
        now = _operator_counters(self.port).get("pasture_operator_status_writes_total", 0.0)
        return self.past_writes + now

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):  # already gone: its counters went with it
            self.past_writes = self.writes()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1


def add_nodes(c: Cluster, count: int) -> None:
    """More kwok nodes like kwok-cpu-0 (110 pods each): hack/cluster's two hold 220
    pods, fewer than 200 ModelDeployments with edits to 2 replicas and rollout surges."""
    base = json.loads(c.kubectl("get", "node", "kwok-cpu-0", "-o", "json", check=True).stdout)
    nodes = []
    for i in range(1, count + 1):
        name = f"kwok-cpu-{i}"
        meta = base["metadata"]
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {**meta["labels"], "kubernetes.io/hostname": name},
                    "annotations": {
                        k: v for k, v in (meta.get("annotations") or {}).items() if "kwok" in k
                    },
                },
                "spec": {k: v for k, v in base["spec"].items() if k != "podCIDR"},
                "status": {
                    "capacity": base["status"]["capacity"],
                    "allocatable": base["status"]["allocatable"],
                },
            }
        )
    c.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes})
    )


class WriteCounter:
    """Counts each ModelDeployment's changes as the apiserver's watch reports them
    (each status write or spec change is one MODIFIED event)."""

    def __init__(self, c: Cluster, ns: str) -> None:
        self.proc = subprocess.Popen(
            [
                f"{c.bin_dir}/kubectl",
                "get",
                "modeldeployments",
                "-n",
                ns,
                "--watch-only",
                "-o",
                "jsonpath={.metadata.name}{'\\n'}",
            ],
            env=c.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def stop(self) -> dict[str, int]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        counts: dict[str, int] = {}
        for name in out.split():
            counts[name] = counts.get(name, 0) + 1
        return counts


def sync_pods(c: Cluster, ns: str, pods: FakePodMetrics) -> None:
    """Serve a fake /metrics on every pod's IP (skipped while the apiserver is away)."""
    try:
        pods.sync(_pod_ips(f"{c.bin_dir}/kubectl", c.env, ns))
    except (subprocess.SubprocessError, ValueError) as e:
        print(f"pod sync skipped: {e!r}", file=sys.stderr)


def md_body(name: str, autoscaled: bool, replicas: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {"modelRef": {"name": "tiny"}, "replicas": replicas}
    if autoscaled:
        spec["autoscaling"] = AUTOSCALED
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def check(c: Cluster, ns: str) -> dict[str, list[str]]:
    """What is wrong now: not ready, missing children, orphans."""
    mds = {m["metadata"]["name"]: m for m in c.get(ns, "modeldeployments")}
    children: dict[tuple[str, str], dict[str, Any]] = {}
    orphans: list[str] = []
    for kind in CHILD_KINDS:
        for o in c.get(ns, kind, "-l", LABEL):
            meta = o["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            children[(kind, meta["name"])] = o
            owner = mds.get(meta["labels"][LABEL])
            uids = {r.get("uid") for r in meta.get("ownerReferences") or []}
            if owner is None or owner["metadata"]["uid"] not in uids:
                orphans.append(f"{kind}/{meta['name']}")
    not_ready: list[str] = []
    missing: list[str] = []
    for name, md in mds.items():
        st = md.get("status") or {}
        ready = any(
            x["type"] == "Ready" and x["status"] == "True" for x in st.get("conditions") or []
        )
        if not ready or st.get("observedGeneration") != md["metadata"].get("generation"):
            reason = next(
                (x.get("reason") for x in st.get("conditions") or [] if x["type"] == "Ready"), "-"
            )
            not_ready.append(f"{name} ({reason})")
        replicas = int(md["spec"].get("replicas", 1))
        wanted = [("configmap", f"{name}-runtime"), ("deployment", name), ("service", name)]
        if replicas > 1:
            wanted.append(("poddisruptionbudget", name))
        for key in wanted:
            if key not in children:
                missing.append("/".join(key))
        dep = children.get(("deployment", name))
        if dep is not None and int(dep["spec"].get("replicas", 0)) != replicas:
            missing.append(f"deployment/{name} replicas {dep['spec'].get('replicas')}")
    return {"not_ready": sorted(not_ready), "missing": missing, "orphans": orphans}


def converge(
    c: Cluster, ns: str, pods: FakePodMetrics, limit: float
) -> tuple[float, dict[str, list[str]]]:
    """Sync the fake pods and check until nothing is wrong (or `limit` seconds)."""
    start = time.monotonic()
    problems = check(c, ns)
    while time.monotonic() - start < limit:
        sync_pods(c, ns, pods)
        problems = check(c, ns)
        if not any(problems.values()):
            break
        time.sleep(2)
    return time.monotonic() - start, problems


@dataclass
class Chaos:
    """The random actions, drawn from one seeded generator (a run replays)."""

    c: Cluster
    ns: str
    names: list[str]
    autoscaled: set[str]
    rng: random.Random
    op: Operator
    proxy: TcpProxy
    pending: list[tuple[float, str]] = field(default_factory=list)  # (when, name) to recreate
    counts: dict[str, int] = field(default_factory=dict)

    def recreate(self, name: str) -> None:
        body = yaml.safe_dump(md_body(name, name in self.autoscaled))
        self.c.kubectl("apply", "-n", self.ns, "-f", "-", input=body)

    def recreate_due(self, now: float) -> None:
        for when, n in [x for x in self.pending if x[0] <= now]:
            self.pending.remove((when, n))
            self.recreate(n)

    def act(self, now: float) -> None:
        roll = self.rng.random()
        n = self.rng.choice(self.names)
        if roll < 0.004:
            action = "operator_restart"
            self.op.restart()
        elif roll < 0.007:
            action = "apiserver_restart"
            for comp in ("kube-apiserver", "kube-controller-manager", "kwok"):
                self.c.hack("restart", comp)
        elif roll < 0.011:
            action = "watch_gap"
            self.watch_gap()
        elif roll < 0.08:
            action = "delete_md"
            if not any(x[1] == n for x in self.pending):
                self.c.kubectl("delete", "-n", self.ns, "modeldeployment", n, "--wait=false")
                self.pending.append((now + self.rng.uniform(1, 10), n))
        elif roll < 0.45:
            action = "delete_child"
            kind = self.rng.choice(CHILD_KINDS)
            child = f"{n}-runtime" if kind == "configmap" else n
            self.c.kubectl("delete", "-n", self.ns, kind, child, "--wait=false")
        else:
            action = "edit"
            patch = json.dumps(self.edit(n))
            self.c.kubectl(
                "patch", "-n", self.ns, "modeldeployment", n, "--type=merge", "-p", patch
            )
        self.counts[action] = self.counts.get(action, 0) + 1

    def watch_gap(self) -> None:
        """Cut the operator's connection while children go, then restore it."""
        self.proxy.sever()
        for victim in self.rng.sample(self.names, 3):
            self.c.kubectl("delete", "-n", self.ns, self.rng.choice(CHILD_KINDS[1:3]), victim)
        time.sleep(self.rng.uniform(2, 8))
        self.proxy.restore()

    def edit(self, n: str) -> dict[str, Any]:
        what = self.rng.random()
        if what < 0.4 and n not in self.autoscaled:
            return {"spec": {"replicas": self.rng.choice([1, 2])}}
        if what < 0.7:
            return {"spec": {"engine": {"maxNumSeqs": self.rng.choice([8, 16, 32, 64])}}}
        return {"spec": {"service": {"annotations": {"chaos": str(self.rng.random())}}}}

    def run(self, minutes: float, rate: float, pods: FakePodMetrics) -> None:
        end = time.monotonic() + minutes * 60
        next_sync = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            self.recreate_due(now)
            if now >= next_sync:
                sync_pods(self.c, self.ns, pods)
                next_sync = now + 5
            self.act(now)
            time.sleep(self.rng.expovariate(rate))
        for _, n in self.pending:
            self.recreate(n)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=2.0, help="random actions per second")
    p.add_argument("--settle", type=float, default=300.0, help="max wait after the chaos")
    p.add_argument("--rest-seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def cluster_up(name: str) -> Cluster:
    bin_dir = (
        subprocess.run([str(ROOT / "hack/build-kube")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    up = subprocess.run(
        [str(ROOT / "hack/cluster"), "up", "--name", name, "--pod-cidr", POD_CIDR],
        check=True,
        capture_output=True,
        text=True,
    )
    return Cluster(name, up.stdout.strip().splitlines()[-1], bin_dir)


def proxied_kubeconfig(c: Cluster, work: Path) -> tuple[TcpProxy, Path]:
    """A TCP proxy to the apiserver (the soak can sever it) and a kubeconfig through it."""
    config = yaml.safe_load(Path(c.kubeconfig).read_text())
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    assert server.hostname
    assert server.port
    proxy = TcpProxy(server.hostname, server.port).start()
    for cl in config["clusters"]:
        cl["cluster"]["server"] = f"https://{server.hostname}:{proxy.port}"
    proxied = work / "proxied.kubeconfig"
    proxied.write_text(yaml.safe_dump(config))
    return proxy, proxied


def create_deployments(c: Cluster, ns: str, count: int) -> tuple[list[str], set[str]]:
    """One Model and `count` ModelDeployments, every fifth autoscaled."""
    names = [f"md-{i}" for i in range(count)]
    autoscaled = {n for n in names if int(n.split("-")[1]) % 5 == 0}
    model = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Model",
        "metadata": {"name": "tiny"},
        "spec": {"source": {"huggingFace": {"repo": "org/tiny"}}},
    }
    docs = [model, *[md_body(n, n in autoscaled) for n in names]]
    c.kubectl(
        "create", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs), check=True, timeout=600
    )
    return names, autoscaled


@dataclass
class Rest:
    """The quiet after the chaos: status writes, by the operator and as seen by a watch."""

    minutes: float
    writes: float
    scaled_counts: list[float]
    other_counts: list[float]


def rest_phase(chaos: Chaos, pods: FakePodMetrics, seconds: float) -> Rest:
    c, ns = chaos.c, chaos.ns
    rest0 = chaos.op.writes()
    counter = WriteCounter(c, ns)
    rest_start = time.monotonic()
    while time.monotonic() - rest_start < seconds:
        sync_pods(c, ns, pods)
        time.sleep(5)
    minutes = (time.monotonic() - rest_start) / 60
    writes = chaos.op.writes() - rest0
    per_md = counter.stop()
    return Rest(
        minutes,
        writes,
        [per_md.get(n, 0) / minutes for n in chaos.autoscaled],
        [per_md.get(n, 0) / minutes for n in chaos.names if n not in chaos.autoscaled],
    )


def steady_count(chaos: Chaos) -> int:
    return sum(
        1
        for m in chaos.c.get(chaos.ns, "modeldeployments")
        if m["metadata"]["name"] in chaos.autoscaled
        and ((m.get("status") or {}).get("autoscaling") or {}).get("reason") == "Steady"
    )


def summarize(
    chaos: Chaos,
    chaos_run: tuple[float, float],
    settle: float,
    rest: Rest,
    problems: dict[str, list[str]],
    pods: FakePodMetrics,
) -> dict[str, Any]:
    chaos_minutes, chaos_writes = chaos_run
    count = len(chaos.names)
    scaled, other = rest.scaled_counts, rest.other_counts
    return {
        "count": count,
        "autoscaled": len(chaos.autoscaled),
        "chaos_minutes": round(chaos_minutes, 2),
        "actions": chaos.counts,
        "operator_restarts": chaos.op.restarts,
        "settle_s": round(settle, 1),
        "not_ready": len(problems["not_ready"]),
        "missing_children": len(problems["missing"]),
        "orphans": len(problems["orphans"]),
        "examples": {k: v[:5] for k, v in problems.items() if v},
        "status_writes_per_min_chaos": round(chaos_writes / chaos_minutes, 1),
        "status_writes_per_md_min_rest": round(rest.writes / count / rest.minutes, 3),
        # Apiserver-side, from a watch: changes per ModelDeployment per minute at rest.
        "rest_changes_per_min_autoscaled_mean": round(sum(scaled) / max(1, len(scaled)), 3),
        "rest_changes_per_min_autoscaled_max": round(max(scaled, default=0), 3),
        "rest_changes_per_min_other_mean": round(sum(other) / max(1, len(other)), 3),
        "rest_changes_per_min_other_max": round(max(other, default=0), 3),
        "autoscaled_steady_at_end": steady_count(chaos),
        "scrapes_served": pods.served,
        "operator_log": str(chaos.op.log),
    }


def soak(a: argparse.Namespace, c: Cluster, ns: str, work: Path, stack: ExitStack) -> bool:
    """Set up, run the chaos, settle, rest; print the summary; True when converged."""
    c.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"), check=True)
    c.kubectl("create", "namespace", ns, check=True)
    add_nodes(c, 2)
    proxy, proxied = proxied_kubeconfig(c, work)
    stack.callback(proxy.stop)
    op = Operator(ns, proxied, work / "operator.log")
    stack.callback(op.stop)
    op.start()
    names, autoscaled = create_deployments(c, ns, a.count)
    pods = FakePodMetrics().start()
    stack.callback(pods.stop)
    pods.bodies = [exposition(str(n)) for n in (1, 2, 3, 2)]

    first, problems = converge(c, ns, pods, a.settle)
    print(json.dumps({"initial_converge_s": round(first, 1)}), flush=True)
    chaos = Chaos(c, ns, names, autoscaled, random.Random(a.seed), op, proxy)
    writes0, chaos_start = op.writes(), time.monotonic()
    chaos.run(a.minutes, a.rate, pods)
    chaos_run = ((time.monotonic() - chaos_start) / 60, op.writes() - writes0)

    settle, problems = converge(c, ns, pods, a.settle)
    time.sleep(10)  # the last transitions' writes land
    rest = rest_phase(chaos, pods, a.rest_seconds)
    problems = check(c, ns)  # again, after the rest: still converged?
    print(json.dumps(summarize(chaos, chaos_run, settle, rest, problems, pods)), flush=True)
    return not any(problems.values())


def main() -> None:
    a = parse_args()
    name = f"chaos-{os.getpid()}"
    c = cluster_up(name)
    work = Path(f"/tmp/pasture-chaos-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        with ExitStack() as stack:  # stops the operator, the fake pods and the proxy
            ok = soak(a, c, "chaos", work, stack)
    finally:
        subprocess.run([str(ROOT / "hack/cluster"), "down", "--name", name], capture_output=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""Scale from zero: request -> first token, minus the pod's Ready time.

    .venv/bin/python bench/gateway_wake.py --rounds 5

A script, not a timed test. Brings up its own local control plane (hack/cluster,
kwok pod IPs on loopback 127.93.0.0/16), one real `pasture-runtime serve` (vLLM
CPU engine, tiny model) and the real `pasture-gateway` watching the cluster, as
tests/gateway/test_gateway_kube.py does (its harness). A ModelDeployment at
`replicas: 0`; per round:

1. a streaming /api/chat for it is sent to the gateway and held;
2. once the gateway has raised `spec.replicas` to 1, the bench plays the pod the
   operator would make: a kwok pod, its IP bound and relayed to the runtime, then
   labelled `pasture.dev/deployment` (kwok marks pods Ready at once, so the label
   write is the moment the gateway's watch can see a Ready pod of the deployment:
   "pod ready");
3. recorded: first token - pod ready (`t0`: just before the label write is sent;
   the conservative figure, it includes the write's own round trip) and first
   token - the write's answer (`t1`); and the runtime's own TTFT for the same
   request sent directly (warm engine), which any first token includes;
4. the pod is deleted and the ModelDeployment set back to 0.

The table gives medians with the min-max spread. Goal (issue 13): first token
<= pod ready + 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.cluster import KubeCluster  # noqa: E402
from tests.gateway.harness import (  # noqa: E402
    Cluster,
    Process,
    relay,
    start_gateway,
    start_runtime,
    wait_until,
)
from tests.operator.autoscale_support import LoopThread  # noqa: E402

POD_CIDR = "127.93.0.1/16"
BODY = {
    "model": "alpha",
    "messages": [{"role": "user", "content": "Cows graze in the pasture."}],
    "options": {"num_predict": 4, "seed": 0, "temperature": 0},
}


def _first_token(url: str, out: dict[str, float]) -> None:
    """Streams one chat; records when its first NDJSON line arrived."""
    try:
        with httpx.stream("POST", url + "/api/chat", json=BODY, timeout=300) as r:
            for line in r.iter_lines():
                if line.strip():
                    out.setdefault("first", time.monotonic())
                    if json.loads(line).get("done"):
                        break
            out["status"] = r.status_code
    except httpx.HTTPError as e:
        out["error"] = 1.0
        print(f"held request failed: {e!r}", file=sys.stderr)


def _direct_ttft(runtime: Process) -> float:
    out: dict[str, float] = {}
    sent = time.monotonic()
    _first_token(runtime.url, out)
    return out["first"] - sent


def _replicas(c: Cluster, name: str) -> int:
    return int(c.get("modeldeployment", name)["spec"].get("replicas", 1))


def _kwok_pod(c: Cluster, name: str) -> str:
    """A kwok pod without the deployment label (the gateway ignores it); its IP once Ready."""
    c.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "runtime", "image": "pasture-runtime:test"}]},
    })  # fmt: skip

    def ready_ip() -> str | None:
        st = c.get("pod", name).get("status") or {}
        ok = any(t["type"] == "Ready" and t["status"] == "True" for t in st.get("conditions") or [])
        return st.get("podIP") if ok else None

    ip: str = wait_until(ready_ip, 60, f"pod {name} ready")
    return ip


def one_round(c: Cluster, core: Any, gw: Process, bind: Any, rnd: int) -> dict[str, float]:
    held: dict[str, float] = {}
    t = threading.Thread(target=_first_token, args=(gw.url, held))
    sent = time.monotonic()
    t.start()
    wait_until(lambda: _replicas(c, "cold") == 1, 60, "the gateway raised replicas to 1")
    woke = time.monotonic()
    pod = f"cold-{rnd}"
    unbind = bind(_kwok_pod(c, pod))
    t0 = time.monotonic()
    core.patch_namespaced_pod(
        pod, c.ns, {"metadata": {"labels": {"pasture.dev/deployment": "cold"}}}
    )
    t1 = time.monotonic()
    t.join(300)
    if "first" not in held or held.get("status") != 200:
        raise RuntimeError(f"round {rnd}: held request got {held}")
    c.kube.kubectl("delete", "-n", c.ns, "pod", pod, "--grace-period=0", "--force", "--wait")
    unbind()
    c.kube.kubectl(
        "patch", "-n", c.ns, "modeldeployment", "cold", "--subresource=scale",
        "--type=merge", "-p", json.dumps({"spec": {"replicas": 0}}),
    )  # fmt: skip
    wait_until(lambda: "alpha" not in httpx.get(gw.url + "/api/ps").text, 60, "alpha not in ps")
    return {
        "after_ready_t0": held["first"] - t0,
        "after_ready_t1": held["first"] - t1,
        "label_write": t1 - t0,
        "scale_up": woke - sent,
    }


def _fmt(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"{statistics.median(ms):.0f} ({min(ms):.0f}-{max(ms):.0f})"


def report(rounds: list[dict[str, float]]) -> None:
    print("| figure | ms, median (min-max) |")
    print("| --- | --- |")
    for key, label in (
        ("after_ready_t0", "first token - pod ready (before the label write)"),
        ("after_ready_t1", "first token - label write answered"),
        ("label_write", "label write round trip"),
        ("direct_ttft", "runtime's own TTFT, direct (warm)"),
        ("beyond_ttft", "first token - pod ready - that round's direct TTFT"),
        ("scale_up", "request -> spec.replicas read 1 (kubectl polls: coarse)"),
    ):
        print(f"| {label} | {_fmt([r[key] for r in rounds])} |")


def bench(kube: KubeCluster, tmp: Path, rounds: int) -> list[dict[str, float]]:
    from kubernetes import client

    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "crd/modeldeployments.pasture.dev")
    kube.kubectl("create", "namespace", "bench")
    c = Cluster(kube, "bench")
    c.model("cold")
    c.deployment("cold", ["alpha:latest"], replicas=0, model="cold")
    subprocess.run([sys.executable, str(ROOT / "hack" / "tiny_model.py"), str(tmp / "tiny")],
                   check=True, capture_output=True)  # fmt: skip
    print("starting the runtime (vLLM CPU engine) ...", file=sys.stderr, flush=True)
    runtime = start_runtime(tmp / "tiny", tmp, timeout=900)
    loop = LoopThread()
    gw = start_gateway(kube, "bench", tmp, "--hold-timeout", "300")
    core = client.CoreV1Api(kube.api_client())
    results = []
    try:
        wait_until(lambda: "alpha:latest" in httpx.get(gw.url + "/api/tags").text, 60, "listed")
        _direct_ttft(runtime)  # warm-up
        for rnd in range(rounds):
            res = one_round(c, core, gw, relay(loop, runtime), rnd)
            res["direct_ttft"] = _direct_ttft(runtime)
            res["beyond_ttft"] = res["after_ready_t0"] - res["direct_ttft"]
            print(f"round {rnd}: {json.dumps(res)}", file=sys.stderr, flush=True)
            results.append(res)
    finally:
        gw.stop()
        loop.close()
        runtime.stop()
    return results


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    name = f"bench-wake-{os.getpid()}"
    up = subprocess.run(
        [str(ROOT / "hack" / "cluster"), "up", "--name", name, "--pod-cidr", POD_CIDR],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    bin_dir = subprocess.run(
        [str(ROOT / "hack" / "build-kube")], capture_output=True, text=True, check=True
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    kube = KubeCluster(name, Path(up.stdout.strip().splitlines()[-1]), Path(bin_dir))
    try:
        report(bench(kube, Path(tempfile.mkdtemp(prefix="gw-wake-")), args.rounds))
    finally:
        subprocess.run([str(ROOT / "hack" / "cluster"), "down", "--name", name], check=False)


if __name__ == "__main__":
    main()

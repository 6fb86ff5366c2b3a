"""Operator convergence benchmark (a script, not a timed test).

    .venv/bin/python bench/operator_convergence.py --count 50 --count 200

Brings up the local control plane (hack/cluster), applies the CRDs, starts
`pasture-operator run` on one namespace, creates one Model and N
ModelDeployments (1 GPU each would exceed kwok's 8 GPUs, so they request
none), and measures the time until every one has its Deployment and
status Ready, plus the operator's peak RSS (VmHWM from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(env: dict[str, str], kubectl: str, count: int, timeout: float) -> dict[str, float]:
    ns = f"bench-{count}-{os.getpid()}"
    subprocess.run([kubectl, "create", "namespace", ns], env=env, check=True, capture_output=True)
    op = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/pasture-operator"),
            "run",
            "-n",
            ns,
            "--standalone",
            "--metrics-port",
            str(_free_port()),
            "--liveness",
            f"http://127.0.0.1:{_free_port()}/healthz",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        docs = [
            {
                "apiVersion": "pasture.dev/v1alpha1",
                "kind": "Model",
                "metadata": {"name": "tiny"},
                "spec": {"source": {"huggingFace": {"repo": "org/tiny"}}},
            }
        ]
        docs += [
            {
                "apiVersion": "pasture.dev/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": f"md-{i}"},
                "spec": {"modelRef": {"name": "tiny"}, "replicas": 1},
            }
            for i in range(count)
        ]
        time.sleep(2)  # operator startup is not what we measure
        start = time.monotonic()
        subprocess.run(
            [kubectl, "apply", "-n", ns, "-f", "-"],
            env=env,
            check=True,
            capture_output=True,
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
            text=True,
        )
        applied = time.monotonic() - start
        while time.monotonic() - start < timeout:
            out = subprocess.run(
                [kubectl, "get", "modeldeployments", "-n", ns, "-o", "json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            items = json.loads(out.stdout)["items"]
            ready = sum(
                1
                for i in items
                for c in (i.get("status") or {}).get("conditions", [])
                if c["type"] == "Ready" and c["status"] == "True"
            )
            if ready == count:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{count}: only {ready} Ready after {timeout}s")
        return {
            "count": count,
            "apply_s": round(applied, 2),
            "converged_s": round(time.monotonic() - start, 2),
            "peak_rss_mb": round(_peak_rss_mb(op.pid), 1),
        }
    finally:
        op.terminate()
        op.wait(timeout=20)
        subprocess.run(
            [kubectl, "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, action="append")
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    counts = a.count or [50, 200]
    bin_dir = (
        subprocess.run([str(ROOT / "hack/build-kube")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    name = f"bench-{os.getpid()}"
    kubeconfig = subprocess.run(
        [str(ROOT / "hack/cluster"), "up", "--name", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    kubectl = f"{bin_dir}/kubectl"
    try:
        subprocess.run(
            [kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")],
            env=env,
            check=True,
            capture_output=True,
        )
        for count in counts:
            print(json.dumps(run_one(env, kubectl, count, a.timeout)), flush=True)
    finally:
        subprocess.run([str(ROOT / "hack/cluster"), "down", "--name", name], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())

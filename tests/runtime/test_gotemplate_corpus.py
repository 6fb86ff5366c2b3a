"""Ollama's own template corpus, rendered by Pasture's Go-template renderer.

The corpus is the `template/` directory of the github.com/ollama/ollama Go
module at the pinned version (hack/ollama-module fetches it from the Go
module proxy, cold in CI): every `*.gotmpl` rendered on the inputs of
Ollama's TestTemplate must equal its `testdata/<name>/<case>` byte for byte,
and the templates of Ollama's other template tests render as they expect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pasture_runtime.translate.gotemplate import Values, parse

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "user": [{"role": "user", "content": "Hello, how are you?"}],
    "user-assistant-user": [
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
    ],
    "system-user-assistant-user": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
    ],
}
# Ollama's TestTemplate drops one trailing space from these templates' output.
TRAILING_SPACE = {"chatqa", "llama2-chat", "mistral-instruct", "openchat", "vicuna"}


@pytest.fixture(scope="module")
def template_dir() -> Path:
    out = subprocess.run(
        [str(ROOT / "hack" / "ollama-module")], check=True, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    return Path(out.stdout.strip()) / "template"


def _names() -> list[str]:
    # The names are listed without the module (collection must not download):
    # the test checks that this list is the module's.
    return [
        "alfred", "alpaca", "chatml", "chatqa", "codellama-70b-instruct", "command-r",
        "falcon-instruct", "gemma-instruct", "gemma3-instruct", "granite-instruct",
        "llama2-chat", "llama3-instruct", "magicoder", "mistral-instruct", "openchat", "phi-3",
        "solar-instruct", "starcoder2-instruct", "vicuna", "zephyr",
    ]  # fmt: skip


def test_the_corpus_is_the_modules(template_dir: Path) -> None:
    assert sorted(p.stem for p in template_dir.glob("*.gotmpl")) == sorted(_names())


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", _names())
def test_corpus_template_renders_byte_identical(template_dir: Path, name: str, case: str) -> None:
    source = (template_dir / f"{name}.gotmpl").read_bytes().replace(b"\r\n", b"\n").decode()
    rendered = parse(source).execute(Values(messages=CASES[case])).encode()
    if name in TRAILING_SPACE and rendered.endswith(b" "):
        rendered = rendered[:-1]
    assert rendered == (template_dir / "testdata" / f"{name}.gotmpl" / case).read_bytes()

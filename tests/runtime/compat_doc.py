"""Reading docs/compatibility.md's tables and Ollama's Go types, for the tests
that keep the tables true (test_compatibility_table.py, _responses.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compatibility.md"
WORDS = {"yes", "differs", "refused", "ignored", "absent", "when set", "Pasture"}


def ollama_module() -> Path:
    """The pinned github.com/ollama/ollama module (hack/ollama-module, cached)."""
    out = subprocess.run(
        [str(ROOT / "hack" / "ollama-module")], check=True, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    return Path(out.stdout.strip())


def table(heading: str) -> list[list[str]]:
    """The rows of the table under `### heading`, cells without backquotes."""
    text = DOC.read_text()
    start = text.index(f"\n### {heading}\n")
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[2:]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([c.strip().strip("`") for c in line.strip("|").split("|")])
    assert rows, heading
    assert {r[-2] for r in rows[1:]} <= WORDS, heading
    return rows[1:]  # less the header


def go_fields(module: Path, struct: str) -> set[str]:
    """The json names of a struct in api/types.go, with those of the structs it
    embeds (a line holding only a type name, as `Metrics`)."""
    types = (module / "api" / "types.go").read_text()
    body = re.search(rf"^type {struct} struct {{(.*?)^}}", types, re.S | re.M)
    assert body, struct
    names = set(re.findall(r'json:"([A-Za-z_]+)', body.group(1)))
    for embedded in re.findall(r"^\s+([A-Z][A-Za-z]+)\s*$", body.group(1), re.M):
        names |= go_fields(module, embedded)
    return names

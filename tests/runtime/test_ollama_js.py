"""The official JavaScript client (npm `ollama`, pinned in hack/lib.sh and
installed by hack/ollama-js into the cache) against the real runtime: node runs
tests/runtime/js/ollama_client.cjs, which records the client's answers as JSON;
the checks are here."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.harness import MODEL, Served
from tests.runtime.test_embed import DIMS, EMBED, embed_server, pooling  # noqa: F401
from tests.runtime.test_structured_tools import CALL_SHAPE
from tests.runtime.tool_defs import WEATHER

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).parent / "js" / "ollama_client.cjs"


@pytest.fixture(scope="module")
def ollama_js() -> Path:
    """Installs the client on first use (seconds, once per cache); fails, never skips."""
    assert shutil.which("node"), "node >= 18 is needed for the ollama-js tests"
    out = subprocess.run(
        [str(ROOT / "hack" / "ollama-js")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


async def drive(modules: Path, server: Served, scenario: str, **args: Any) -> Any:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(DRIVER),
        str(modules),
        server.url,
        scenario,
        json.dumps(args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_chat_generate_streaming_and_model_calls(ollama_js: Path, server: Served) -> None:
    got = await drive(ollama_js, server, "basics", model=MODEL)
    assert tuple(int(x) for x in got["version"]["version"].split(".")) >= (0, 6, 4)
    assert [m["model"] for m in got["list"]["models"]] == ["tiny:latest", "Tiny-Alias:latest"]
    assert got["list"]["models"][0]["details"]["family"] == "llama"
    assert got["show"]["capabilities"] == ["completion"]
    assert got["show"]["model_info"]["general.architecture"] == "llama"
    assert got["ps"]["models"][0]["model"] == MODEL
    # ollama-js turns these date strings into Date objects: they must parse.
    assert got["ps"]["models"][0]["expires_at"]
    assert got["generate"]["done"]
    assert got["generate"]["eval_count"]
    assert got["chat"]["message"]["role"] == "assistant"
    assert got["chat"]["done_reason"] in ("stop", "length")
    for parts in (got["chatStream"], got["generateStream"]):
        assert parts[-1]["done"]
        assert not any(p["done"] for p in parts[:-1])
    assert got["generateStream"][-1]["eval_count"]
    assert got["pull"]["status"] == "success"
    missing = got["missing"]
    assert missing == {
        "name": "ResponseError",
        "status_code": 404,
        "error": "model 'nope' not found",
    }
    assert got["push"]["status_code"] == 403
    assert "Model resources" in got["push"]["error"]
    assert got["badOption"]["status_code"] == 400


async def test_abort_mid_stream(ollama_js: Path, server: Served) -> None:
    got = await drive(ollama_js, server, "abort", model=MODEL)
    assert got == {"seen": 2, "aborted": "AbortError"}


async def test_tool_calls(ollama_js: Path, tools_server: Served) -> None:
    got = await drive(
        ollama_js, tools_server, "tools", model=MODEL, tools=[WEATHER], format=CALL_SHAPE
    )
    calls = got["whole"]["message"]["tool_calls"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["function"]["arguments"]["city"] in ("Paris", "Oslo")
    streamed = [t for p in got["streamed"][:-1] for t in p["message"].get("tool_calls") or []]
    assert [t["function"] for t in streamed] == [t["function"] for t in calls]


async def test_embed_and_legacy_embeddings(ollama_js: Path, embed_server: Served) -> None:  # noqa: F811
    got = await drive(ollama_js, embed_server, "embed", model=EMBED)
    assert len(got["one"]["embeddings"]) == 1
    assert len(got["one"]["embeddings"][0]) == DIMS
    assert len(got["many"]["embeddings"]) == 2
    assert len(got["legacy"]["embedding"]) == DIMS

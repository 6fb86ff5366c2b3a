"""docs/compatibility.md's endpoint, request field and option tables, checked
against Ollama's source at the pinned version (hack/ollama-module: every route
of server/routes.go and every field of the served requests in api/types.go has
a row) and against Pasture's code (the runtime's registered routes, its request
models' fields, the options it type-checks, the Modelfile PARAMETERs it
honours). A row that stops being true fails here."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Route

from pasture_operator import modelfile
from pasture_runtime.app import create_app
from pasture_runtime.protocol import ollama as p
from pasture_runtime.translate import options
from tests.runtime.compat_doc import go_fields, ollama_module, table
from tests.runtime.harness import tiny_config

SERVED = {"yes", "differs", "refused", "Pasture"}
# Ollama's request structs (api/types.go) and Pasture's models for them.
REQUESTS: dict[str, type[BaseModel]] = {
    "GenerateRequest": p.GenerateRequest,
    "ChatRequest": p.ChatRequest,
    "Message": p.Message,
    "ToolCall": p.ToolCall,
    "ToolCallFunction": p.ToolCallFunction,
    "EmbedRequest": p.EmbedRequest,
    "EmbeddingRequest": p.EmbeddingRequest,
    "ShowRequest": p.ShowRequest,
    "PullRequest": p.PullRequest,
}


@pytest.fixture(scope="module")
def module() -> Path:
    return ollama_module()


def _endpoints() -> dict[tuple[str, str], str]:
    rows = table("Endpoints (runtime)")
    got = {tuple(r[0].split(" ", 1)): r[1] for r in rows}
    assert len(got) == len(rows), "an endpoint is listed twice"
    return got  # type: ignore[return-value]


def _placeholders(path: str) -> str:
    """`/api/blobs/:digest` and `/v1/models/{model:path}` -> `{}` for comparison."""
    return re.sub(r"\{[^}]*\}|:[A-Za-z]+", "{}", path)


def test_every_ollama_route_has_a_row(module: Path) -> None:
    routes = (module / "server" / "routes.go").read_text()
    ollama = {
        (m, _placeholders(path))
        for m, path in re.findall(r'\br\.(GET|POST|HEAD|DELETE|PUT)\("([^"]+)"', routes)
    }
    assert ("POST", "/api/chat") in ollama
    documented = {(m, _placeholders(path)) for m, path in _endpoints()}
    assert ollama - documented == set()


def test_rows_match_the_runtime_routes(tmp_path: Path) -> None:
    app = create_app(tiny_config(tmp_path))
    registered = {
        (m, _placeholders(r.path))
        for r in app.routes
        if isinstance(r, Route | APIRoute) and r.path != "/openapi.json"
        for m in r.methods or ()
    }
    rows = _endpoints()
    served = {(m, _placeholders(path)) for (m, path), w in rows.items() if w in SERVED}
    absent = {(m, _placeholders(path)) for (m, path), w in rows.items() if w == "absent"}
    assert registered - served == set(), "served but not in the table"
    assert served - registered == set(), "in the table but not served"
    assert absent & registered == set()


def test_request_fields(module: Path) -> None:
    rows = table("Request fields")
    for name, model in REQUESTS.items():
        ollama = go_fields(module, name)
        documented = {r[1]: r[2] for r in rows if r[0] == name}
        ours = {f.alias or k for k, f in model.model_fields.items()}
        assert ollama - set(documented) == set(), f"{name}: Ollama fields without a row"
        assert ours - set(documented) == set(), f"{name}: Pasture fields without a row"
        supported = {f for f, w in documented.items() if w in ("yes", "differs")}
        assert supported - ours == set(), f"{name}: said supported but not read"
    assert {r[0] for r in rows} <= set(REQUESTS)


def test_options(module: Path) -> None:
    rows = table("Options")
    documented = {r[0]: r[1] for r in rows}
    assert len(documented) == len(rows)
    assert set(documented.values()) <= {"yes", "ignored"}
    known = options.INT_OPTIONS | options.FLOAT_OPTIONS | options.BOOL_OPTIONS | {"stop"}
    assert set(documented) == known, "the runtime type-checks exactly the listed options"
    assert set(documented) == set(modelfile.PARAMETER_TYPES), "and a Modelfile takes them"
    honoured = {o for o, w in documented.items() if w == "yes"}
    assert honoured == modelfile.SERVED_PARAMETERS
    assert go_fields(module, "Options") <= set(documented)  # with the Runner it embeds


async def test_head_tags_answers_as_ollama(tmp_path: Path) -> None:
    """Ollama answers HEAD /api/tags (clients probe the server with it)."""
    app = create_app(tiny_config(tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.head("/api/tags")).status_code == 200


RESPONSES = (
    "GenerateResponse", "ChatResponse", "ShowResponse", "ListModelResponse",
    "ProcessModelResponse", "ModelDetails", "ProgressResponse", "EmbedResponse",
    "EmbeddingResponse",
)  # fmt: skip


def test_every_ollama_response_field_has_a_row(module: Path) -> None:
    rows = table("Response fields")
    assert {r[0] for r in rows} == set(RESPONSES)
    for name in RESPONSES:
        documented = [r[1] for r in rows if r[0] == name]
        assert len(documented) == len(set(documented)), f"{name}: a field listed twice"
        assert go_fields(module, name) - set(documented) == set(), name

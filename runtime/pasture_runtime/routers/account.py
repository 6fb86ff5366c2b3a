"""Ollama's account and status endpoints, answered as an Ollama server that
nobody has signed in to and that has no cloud: Pasture serves only the
models its Model resources declare, with no ollama.com account behind it.

- `POST /api/me`: `200 null`, what Ollama answers when it gets no user from
  ollama.com. The CLI's `push` calls it first; a 401 would stop it at "You
  need to be signed in", while `null` lets it reach /api/push, whose answer
  says how models are managed on Pasture.
- `POST /api/signout` (and the deprecated `DELETE /api/user/keys/{key}`):
  Ollama's 401 for a server that is not signed in.
- `GET /api/status`: `{"cloud": {"disabled": true, "source": "config"}}`: the
  cloud is off, by the server's configuration (Ollama's sources are none,
  env, config or both)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter()

NOT_SIGNED_IN = "you are not currently signed in"


@router.post("/api/me")
async def whoami() -> JSONResponse:
    return JSONResponse(None)


@router.post("/api/signout")
async def signout() -> JSONResponse:
    return JSONResponse({"error": NOT_SIGNED_IN}, status_code=401)


@router.delete("/api/user/keys/{encoded_key}", include_in_schema=False)
async def delete_key(encoded_key: str) -> JSONResponse:
    return JSONResponse({"error": NOT_SIGNED_IN}, status_code=401)


@router.get("/api/status")
async def status() -> JSONResponse:
    return JSONResponse({"cloud": {"disabled": True, "source": "config"}})

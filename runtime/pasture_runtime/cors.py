"""CORS as Ollama answers it (server/routes.go with gin-contrib/cors, and
envconfig.AllowedOrigins), so browser apps and browser-side ollama-js can
call Pasture directly.

Allowed origins: the configured ones (server.origins, PASTURE_ORIGINS: a
comma-separated list, as Ollama's OLLAMA_ORIGINS), then localhost, 127.0.0.1
and 0.0.0.0 over http/https with any port, and the app://, file://,
tauri://, vscode-webview:// and vscode-file:// schemes. One `*` per origin is
a wildcard. As in Ollama: a request without Origin, or from its own host, is
not CORS and passes untouched; an origin not allowed is a 403 (empty body)
whatever the method; an OPTIONS from an allowed origin is the preflight,
answered 204 here (before auth: browsers send no credentials on it); other
requests pass and their response names the origin."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0")
_SCHEMES = ("app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*")
ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
ALLOW_HEADERS = ",".join(
    (
        "Authorization", "Content-Type", "User-Agent", "Accept", "X-Requested-With",
        "Openai-Beta", "X-Stainless-Arch", "X-Stainless-Async",
        "X-Stainless-Custom-Poll-Interval", "X-Stainless-Helper-Method", "X-Stainless-Lang",
        "X-Stainless-Os", "X-Stainless-Package-Version", "X-Stainless-Poll-Helper",
        "X-Stainless-Retry-Count", "X-Stainless-Runtime", "X-Stainless-Runtime-Version",
        "X-Stainless-Timeout",
    )
)  # fmt: skip
MAX_AGE = str(12 * 3600)


def allowed_origins(configured: Iterable[str]) -> tuple[str, ...]:
    """Ollama's AllowedOrigins: the configured list, then the defaults."""
    out = [o.strip().lower() for o in configured if o.strip()]
    for host in _HOSTS:
        out += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    return (*out, *_SCHEMES)


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """gin-contrib/cors' match: exact, or around the one `*` (prefix / suffix)."""
    for pattern in patterns:
        if pattern == "*" or pattern == origin:
            return True
        if "*" in pattern:
            prefix, _, suffix = pattern.partition("*")
            if origin.startswith(prefix) and origin.endswith(suffix):
                return True
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class CorsMiddleware:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.patterns = allowed_origins(origins)
        self.any = "*" in self.patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        host = _header(scope, b"host") or ""
        if not origin or origin in (f"http://{host}", f"https://{host}"):
            await self.app(scope, receive, send)
            return
        if not origin_allowed(origin, self.patterns):
            await _respond(send, 403, [])
            return
        allow = [(b"access-control-allow-origin", (b"*" if self.any else origin.encode()))]
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, [*allow, *self._preflight()])
            return
        vary = [] if self.any else [(b"vary", b"Origin")]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *allow, *vary]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
        ]
        if not self.any:
            headers += [(b"vary", v) for v in (b"Origin", b"Access-Control-Request-Method",
                                                b"Access-Control-Request-Headers")]  # fmt: skip
        return headers


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})

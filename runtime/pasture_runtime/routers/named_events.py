"""What the Anthropic Messages and OpenAI Responses routes share: streams of
named SSE events (a failure after the stream began is one last event in the
protocol's shape), and errors before it in the protocol's shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.requests import Request

from ..encoders import sse_named
from ..errors import OllamaError, internal_failure
from ..logs import request_id_var

log = logging.getLogger(__name__)
Event = tuple[str, dict[str, Any]]


async def named_sse(
    events: AsyncIterator[Event], failed: Callable[[int, str], Event]
) -> AsyncIterator[bytes]:
    try:
        async for name, data in events:
            yield sse_named(name, data)
    except OllamaError as e:
        yield sse_named(*failed(e.status, e.message))
    except Exception:
        log.exception("generation failed mid-stream")
        yield sse_named(*failed(500, internal_failure(request_id_var.get())))


def shaped_errors(shape: Callable[[int, str], dict[str, Any]]) -> type[APIRoute]:
    """A route class whose errors (ours and unexpected ones) are `shape`d, for
    a router whose protocol is not the app-wide one of its path."""

    class ShapedErrors(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def run(request: Request) -> Response:
                try:
                    return await handler(request)
                except OllamaError as e:
                    body = shape(e.status, e.message)
                    return JSONResponse(body, status_code=e.status, headers=e.headers)
                except Exception:
                    log.exception("unhandled error")
                    return JSONResponse(shape(500, "internal error"), status_code=500)

            return run

    return ShapedErrors

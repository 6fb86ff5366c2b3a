"""What every router reads of the request besides its body."""

from __future__ import annotations

from fastapi import Request

from ..state import Runtime


def runtime(request: Request) -> Runtime:
    """The runtime serving this request (app.state.runtime, set by create_app)."""
    rt: Runtime = request.app.state.runtime
    return rt

"""CPU work of a request before its admission (tokenizing up to the body
limit, decoding images, rendering templates, compiling a JSON schema) runs in
a small thread pool, never on the event loop: the loop keeps serving streams,
probes and other clients meanwhile, as vLLM's server does for its tokenizer
and media. The tokenizer and PIL release the GIL for their heavy parts."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Few threads: enough to overlap requests, few enough that a burst of huge
# bodies cannot multiply their memory and CPU without bound.
PREPARE_THREADS = 4
_pool = ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="pasture-prepare")


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in the prepare pool, with the caller's context
    (the request id its log lines carry)."""
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)

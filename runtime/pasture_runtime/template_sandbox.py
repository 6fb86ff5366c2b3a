"""Request-supplied Jinja templates, rendered where they cannot hurt the server.

A `template` on /api/generate is the client's code. Jinja can loop and
allocate without bound (`{{ 'a' * 10**10 }}`, nested `range` loops), so it is
never run in the server process: one long-lived worker process renders it in
Jinja's ImmutableSandboxedEnvironment (no attribute escapes, no mutation of
the context), with the operating system's limits, not ours, as the bounds:
  - memory: the worker's address space is capped (RLIMIT_AS): an oversized
    string is a MemoryError there, not an OOM-killed pod;
  - time: the caller waits at most RENDER_SECONDS, then kills the worker (a
    new one starts at the next request): a busy loop cannot stall anything;
  - output: at most MAX_OUTPUT_CHARS come back.
The caller blocks on a pipe (from a worker thread, never the event loop).
Model templates (the model's own, or an operator-configured one) are trusted
and keep the tokenizer's path (engine.render_chat).

vLLM's server refuses request chat templates unless started with
--trust-request-chat-template; Ollama's templates are Go templates, whose
subset we render ourselves (translate/prompt.py) without loops at all."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import resource
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

RENDER_SECONDS = 2.0
# Address space the worker may grow by, beyond what it holds when it starts.
MEMORY_BYTES = 1 << 30
MAX_OUTPUT_CHARS = 64 << 20
STARTUP_SECONDS = 60.0


class TemplateRefused(Exception):
    """The template failed, ran too long, or needed too much (a client error)."""


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _environment() -> Any:
    """transformers' chat-template environment (its filters and globals), so a
    template that works on the model works here too."""
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: Any = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def _render(env: Any, source: str, context: dict[str, Any], max_chars: int) -> str:
    parts: list[str] = []
    size = 0
    for part in env.from_string(source).generate(**context):
        size += len(part)
        if size > max_chars:
            raise TemplateRefused(f"the template's output is over {max_chars} characters")
        parts.append(part)
    return "".join(parts)


def _serve(conn: Connection, memory_bytes: int) -> None:
    """The worker process: render requests until the pipe closes."""
    limit = _address_space() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    env = _environment()
    conn.send(("ready", None))
    while True:
        try:
            source, context, max_chars = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", _render(env, source, context, max_chars)))
        except MemoryError:
            conn.send(("error", "the template needs too much memory"))
        except TemplateRefused as e:
            conn.send(("error", str(e)))
        except Exception as e:
            conn.send(("error", f"{type(e).__name__}: {e}"[:500]))


class Sandbox:
    """The parent's handle on the worker: one render at a time (a lock), the
    worker started on first use and replaced after a timeout or a crash."""

    def __init__(
        self,
        seconds: float = RENDER_SECONDS,
        memory_bytes: int = MEMORY_BYTES,
        max_chars: int = MAX_OUTPUT_CHARS,
    ) -> None:
        self.seconds = seconds
        self.memory_bytes = memory_bytes
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None

    def _ensure(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            return self._conn
        self._stop()
        # spawn, not fork: the server has threads (vLLM's, uvicorn's).
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_serve, args=(child, self.memory_bytes), daemon=True, name="pasture-template"
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        # Starting takes a moment (a fresh interpreter); not part of a render's time.
        if not parent.poll(STARTUP_SECONDS) or parent.recv()[0] != "ready":
            self._stop()
            raise TemplateRefused("the template renderer did not start")
        return parent

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        self._proc = self._conn = None

    def render(self, source: str, context: dict[str, Any]) -> str:
        """Render `source` with `context`; TemplateRefused on any failure."""
        with self._lock:
            try:
                conn = self._ensure()
                conn.send((source, context, self.max_chars))
                if not conn.poll(self.seconds):
                    self._stop()
                    raise TemplateRefused(
                        f"rendering took longer than {self.seconds:g} s (a loop too long?)"
                    )
                kind, value = conn.recv()
            except (EOFError, OSError) as e:
                self._stop()  # the worker died (killed for memory?)
                raise TemplateRefused("the template renderer failed (out of memory?)") from e
            if kind != "ok":
                raise TemplateRefused(str(value))
            return str(value)

    def close(self) -> None:
        with self._lock:
            self._stop()


# The process-wide sandbox (one worker for every app in the process).
SANDBOX = Sandbox()
# Requests that bring their own Jinja template are prepared on this thread
# (one: the worker renders one template at a time anyway), so waiting on the
# worker never takes the threads the rest of the server uses.
PREPARE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pasture-template")

"""Where audit records go by default: a buffered stream handler on the
`pasture.audit` logger. One record per API call through `logging` cost more
than the rest of the gateway's per-request bookkeeping together (a LogRecord,
the formatter, a write and a flush system call each), so AuditLog hands its
ready lines straight to this handler when it is the logger's only one
(audit.py), and the handler writes them in batches:

- within INTERVAL (0.1 s) of the first pending record: a timer on the running
  event loop; with no event loop in this thread, at once;
- as soon as LIMIT (64 KiB) is pending;
- at shutdown: the apps' lifespans call AuditLog.flush(), and logging's own
  atexit hook flushes and closes every handler (nothing pending is lost).

Each write(2) carries whole lines only and at most PIPE_BUF bytes, so a
record never interleaves with another process writing to the same pipe (the
runtime shares its stdout with vLLM's engine process), as when each record
was written on its own. Records logged through `logging` (another handler is
attached: a test's, an operator's) reach this handler's emit() and are
buffered the same way."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TextIO

INTERVAL = 0.1  # seconds: the longest a record waits in the buffer (docs/tenancy.md)
LIMIT = 64 * 1024  # characters pending that trigger a write at once
PIPE_BUF = 4096  # bytes a pipe writes atomically (POSIX minimum 512; Linux 4096)


def chunks(lines: Iterable[str], limit: int = PIPE_BUF, end: str = "\n") -> Iterator[str]:
    """`lines`, each ended by `end`, joined into pieces of at most `limit`
    characters, never splitting a line (one longer than `limit` is a piece of
    its own). Records are ASCII (json's ensure_ascii): characters are bytes."""
    piece: list[str] = []
    size = 0
    for line in lines:
        n = len(line) + len(end)
        if piece and size + n > limit:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(line)
        piece.append(end)
        size += n
    if piece:
        yield "".join(piece)


_STREAMS: weakref.WeakSet[AuditStream] = weakref.WeakSet()


def _forget_in_child() -> None:
    """A forked child (vLLM's workers) starts with an empty buffer: what is
    pending is the parent's to write, not written twice."""
    for stream in list(_STREAMS):
        stream.pending.clear()
        stream.size, stream.due = 0, None
        stream.writing = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


class AuditStream(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that buffers whole lines and writes them in batches."""

    def __init__(
        self, stream: TextIO | None = None, interval: float = INTERVAL, limit: int = LIMIT
    ) -> None:
        super().__init__(sys.stdout if stream is None else stream)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.interval = interval
        self.limit = limit
        self.pending: deque[str] = deque()  # append/popleft are atomic: no lock per record
        self.size = 0  # characters pending (approximate across threads: a threshold only)
        self.due: float | None = None  # monotonic time a timer flushes by; None: none armed
        self.closed = False
        self.writing = threading.Lock()  # one batch at a time, in order
        _STREAMS.add(self)

    def append(self, line: str) -> None:
        """Queue one complete line (without its newline)."""
        self.pending.append(line)
        self.size += len(line) + 1
        due = self.due
        if self.size >= self.limit or self.closed:
            self.flush()
        elif due is None:
            self._arm()
        elif time.monotonic() > due:  # the timer's loop is gone (closed) or too busy
            self.flush()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop in this thread to flush later: now
            self.flush()
            return
        self.due = time.monotonic() + self.interval
        loop.call_later(self.interval, self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.append(self.format(record))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Write every pending line, then flush the stream."""
        with self.writing:
            self.due = None
            n = len(self.pending)
            self.size = 0
            lines = [self.pending.popleft() for _ in range(n)]
            stream = self.stream
            try:
                for piece in chunks(lines, PIPE_BUF, self.terminator):
                    stream.write(piece)
                    if hasattr(stream, "flush"):
                        stream.flush()  # one write(2) per piece, pieces in order
                if not lines and hasattr(stream, "flush"):
                    stream.flush()
            except Exception:
                # Records lost: said on stderr, as logging.Handler.handleError
                # does. Nothing lost (a stream closed before logging's own
                # shutdown flushes it): nothing to say, as logging.shutdown.
                if lines and logging.raiseExceptions:
                    traceback.print_exc(file=sys.stderr)

    def close(self) -> None:
        """Flush; later records are written at once (interpreter shutdown)."""
        self.closed = True
        self.flush()
        super().close()

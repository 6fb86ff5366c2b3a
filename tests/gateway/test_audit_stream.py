"""The audit record's fast writer (pure parts, no app): line() is exactly
json.dumps(record(...)); the buffered stream handler writes whole lines, on
its size threshold, on close, and within its interval from an event loop;
AuditLog goes through logging whenever another handler listens."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pasture_access import audit_stream
from pasture_access.audit import LOGGER, SEPARATORS, AuditLog, Call, line, record
from pasture_access.audit_stream import AuditStream, chunks
from pasture_access.identity import ALL_SCOPES, Identity
from pasture_gateway.audit import from_scope

WHO = Identity("ci-bot", "team-a", ALL_SCOPES)
VIA = Identity("ci-bot", "team-a", ALL_SCOPES, via="gw-key")
ODD = Identity('k"\\é', "ténant \u2603 \U0001f404", ALL_SCOPES, via="\n\t\x00")
BASE = Call("r-1", WHO, "10.0.0.7", "POST", "/api/chat", 200, "llama3:latest", (12, 34), 0.25)
T = 1_764_000_000.123  # a time with milliseconds


def _call(**changes: Any) -> Call:
    fields = {k: getattr(BASE, k) for k in BASE.__dataclass_fields__}
    return Call(**{**fields, **changes})


CALLS = {
    "plain": BASE,
    "no key (401)": _call(identity=None, status=401, model=None, usage=None),
    "every optional None": _call(identity=None, client=None, status=None, model=None, usage=None),
    "forwarded by a gateway": _call(identity=VIA),
    "unicode, quotes, controls": _call(
        identity=ODD, request_id='"quoted" \\ back', model="модель:latest", change="copy a\nb"
    ),
    "a management change": _call(endpoint="/api/copy", change="copy a to b"),
    "zero usage": _call(usage=(0, 0)),
    "a whole second": _call(seconds=2),
    "a long duration": _call(seconds=12345.6789),
    "a tiny duration": _call(seconds=1e-9),
    # Types the fields do not declare: json.dumps itself writes them.
    "a bool status": _call(status=True),
    "a NaN duration": _call(seconds=float("nan")),
    "an infinite duration": _call(seconds=float("inf")),
    "a non-str request id": _call(request_id=7),
    "a float token count": _call(usage=(1.5, 2)),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("now", [T, 0.0, 0.9995, 59.999, 1e9, 1_764_000_001.0, -1.5])
def test_line_is_exactly_the_records_json(call: Call, now: float) -> None:
    assert line(call, "gateway", now) == json.dumps(
        record(call, "gateway", now), separators=SEPARATORS
    )


def test_line_formats_the_second_once_and_keeps_up_with_the_clock() -> None:
    for now in (T, T + 0.5, T + 1, T + 1.001, T - 3600, T + 86400 * 365):
        assert line(BASE, "runtime", now) == json.dumps(
            record(BASE, "runtime", now), separators=SEPARATORS
        )


def test_line_without_a_time_uses_the_clock() -> None:
    before = time.time()
    written = json.loads(line(BASE, "gateway"))
    assert written["time"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(before)))


@pytest.mark.parametrize(
    ("lines", "limit", "pieces"),
    [
        ([], 10, []),
        (["ab", "cd"], 10, ["ab\ncd\n"]),
        (["abcd", "efgh"], 10, ["abcd\nefgh\n"]),  # exactly the limit
        (["abcd", "efghi"], 10, ["abcd\n", "efghi\n"]),  # one over: a new piece
        (["a" * 12, "b"], 10, ["a" * 12 + "\n", "b\n"]),  # too long: alone, never split
        (["a", "b" * 12, "c"], 10, ["a\n", "b" * 12 + "\n", "c\n"]),
    ],
)
def test_chunks_hold_whole_lines_up_to_the_limit(
    lines: list[str], limit: int, pieces: list[str]
) -> None:
    assert list(chunks(lines, limit)) == pieces


class Writes(io.StringIO):
    """A stream that records each write (one write(2) each, after a flush)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.written = asyncio.Event()

    def write(self, s: str) -> int:
        self.writes.append(s)
        self.written.set()
        return super().write(s)


def test_no_event_loop_writes_at_once() -> None:
    out = Writes()
    AuditStream(out).append("one")
    assert out.getvalue() == "one\n"


async def test_the_size_threshold_writes_at_once_in_whole_pipe_pieces() -> None:
    out = Writes()
    stream = AuditStream(out, interval=60, limit=10_000)
    record_line = "x" * 999
    for _ in range(9):
        stream.append(record_line)
    assert out.getvalue() == ""  # 9000 characters pending, interval far away
    stream.append(record_line)  # 10 000: written now
    assert out.getvalue() == (record_line + "\n") * 10
    assert [len(w) for w in out.writes] == [4000, 4000, 2000]  # whole lines, <= PIPE_BUF
    assert all(w.endswith("\n") for w in out.writes)


async def test_close_writes_what_is_pending_and_later_records_at_once() -> None:
    out = Writes()
    stream = AuditStream(out, interval=60)
    stream.append("a")
    stream.append("b")
    assert out.getvalue() == ""
    stream.close()
    assert out.getvalue() == "a\nb\n"
    stream.append("c")  # after logging's shutdown closed it: not kept
    assert out.getvalue() == "a\nb\nc\n"


async def test_a_lone_record_is_written_by_the_periodic_flush() -> None:
    out = Writes()
    written = out.written
    stream = AuditStream(out, interval=0.02)
    stream.append("lone")
    assert out.getvalue() == ""
    await asyncio.wait_for(written.wait(), 5)
    assert out.getvalue() == "lone\n"
    written.clear()
    stream.append("next")  # the timer is armed again for the next batch
    assert out.getvalue() == "lone\n"
    await asyncio.wait_for(written.wait(), 5)
    assert out.getvalue() == "lone\nnext\n"


def test_a_timer_lost_with_its_loop_is_made_up_by_the_next_record() -> None:
    out = Writes()
    stream = AuditStream(out, interval=0.01)

    async def one() -> None:
        stream.append("in a loop that then closes")

    asyncio.run(one())  # the loop is gone before its timer fires
    time.sleep(0.02)
    stream.append("later")
    assert out.getvalue() == "in a loop that then closes\nlater\n"


@contextlib.contextmanager
def bare_audit_logger() -> Iterator[logging.Logger]:
    """The shared logger without handlers, restored afterwards. Inside the
    test: pytest attaches its capture handlers to every logger that does not
    propagate (as pasture.audit) when each test phase starts."""
    log = logging.getLogger(LOGGER)
    saved = log.handlers[:]
    log.handlers.clear()
    try:
        yield log
    finally:
        log.handlers[:] = saved


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.items.append(record.getMessage())


async def test_audit_log_fast_path_and_the_logging_path() -> None:
    out = Writes()
    with bare_audit_logger() as audit_logger:
        log = AuditLog("gateway", stream=out)
        [installed] = audit_logger.handlers
        assert isinstance(installed, AuditStream)
        log.write(BASE)
        log.flush()
        first = json.loads(out.getvalue())
        assert first == {**record(BASE, "gateway", 0), "time": first["time"]}
        listener = Records()  # a test's or an operator's handler: logging again, to both
        audit_logger.addHandler(listener)
        log.write(BASE)
        log.flush()
        assert [json.loads(m)["request_id"] for m in listener.items] == ["r-1"]
        assert len(out.getvalue().splitlines()) == 2
        AuditLog("gateway", enabled=False).write(BASE)  # off: nothing anywhere
        log.flush()
        assert len(listener.items) == 1


def test_a_muted_logger_writes_nothing() -> None:
    out = Writes()
    with bare_audit_logger() as audit_logger:
        log = AuditLog("gateway", stream=out)
        audit_logger.setLevel(logging.WARNING)
        try:
            log.write(BASE)
            log.flush()
        finally:
            audit_logger.setLevel(logging.INFO)
    assert out.getvalue() == ""


def test_the_default_interval_is_the_documented_one() -> None:
    assert audit_stream.INTERVAL == 0.1  # docs/tenancy.md: "within ~0.1 s"


SCOPE: dict[str, Any] = {
    "client": ("10.0.0.7", 5000), "method": "POST", "path": "/api/chat",
    "state": {"request_id": "r-1", "identity": WHO, "status": 200, "model": "llama3:latest",
              "usage": (12, 34)},
}  # fmt: skip
STATES: dict[str, dict[str, Any]] = {
    "complete": SCOPE["state"],
    "usage as a list": {**SCOPE["state"], "usage": [12, 34]},
    "usage of bools": {**SCOPE["state"], "usage": (True, 3)},
    "usage of three": {**SCOPE["state"], "usage": (1, 2, 3)},
    "odd types": {"request_id": 5, "identity": "x", "status": "200", "model": 3, "change": 1},
    "a change": {**SCOPE["state"], "change": "delete m"},
    "empty": {},
}


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_from_scope_builds_the_same_call_as_the_constructor(state: dict[str, Any]) -> None:
    usage: Any = state.get("usage")
    ok = isinstance(usage, tuple | list) and len(usage) == 2
    ok = ok and all(type(v) is int for v in usage)
    identity, status = state.get("identity"), state.get("status")
    model, change = state.get("model"), state.get("change")
    expected = Call(
        request_id=str(state.get("request_id", "")),
        identity=identity if isinstance(identity, Identity) else None,
        client="10.0.0.7",
        method="POST",
        endpoint="/api/chat",
        status=status if isinstance(status, int) else None,
        model=model if isinstance(model, str) else None,
        usage=(usage[0], usage[1]) if ok else None,
        seconds=0.5,
        change=change if isinstance(change, str) else None,
    )
    got = from_scope({**SCOPE, "state": state}, 0.5)
    assert got == expected
    assert type(got.usage) is type(expected.usage)
    assert line(got, "gateway", T) == line(expected, "gateway", T)


def test_a_forked_child_does_not_write_the_parents_pending_records() -> None:
    import os

    out = Writes()
    stream = AuditStream(out, interval=60)

    async def pend() -> None:
        stream.append("the parent's")

    asyncio.run(pend())
    pid = os.fork()
    if pid == 0:  # the child: its copy must hold nothing
        os._exit(0 if not stream.pending and stream.due is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert list(stream.pending) == ["the parent's"]


EXITING = """
import asyncio, sys
from pasture_access.audit import AuditLog
from tests.gateway.test_audit_stream import BASE

log = AuditLog("gateway")

async def serve() -> None:
    for _ in range(3):
        log.write(BASE)
    if sys.argv[1] == "lifespan":
        log.flush()  # what the apps' lifespans do at shutdown
        sys.stdout.write("after the flush\\n")

asyncio.run(serve())  # the loop ends before its 0.1 s timer: the exit flushes
"""


@pytest.mark.parametrize("how", ["lifespan", "exit"])
def test_nothing_buffered_is_lost_at_shutdown(how: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", EXITING, how], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    records = [json.loads(ln) for ln in lines if ln.startswith('{"log":"pasture.audit"')]
    assert [r["request_id"] for r in records] == ["r-1"] * 3
    if how == "lifespan":
        assert lines[-1] == "after the flush"  # written by then, not at exit

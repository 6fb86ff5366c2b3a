"""fetch.fetch's answers to each kind of server reply (table tests against a real
loopback HTTP server that replays scripted responses): resume headers, a 416, a
wrong Content-Range, weak and strong validators, permanent and retried errors."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pasture_operator.fetch import PermanentError, fetch

BODY = b"0123456789" * 100


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Script:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)  # Range, If-Range sent


class _Handler(http.server.BaseHTTPRequestHandler):
    script = Script()
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        sent = {k: v for k in ("Range", "If-Range") if (v := self.headers.get(k)) is not None}
        self.script.requests.append(sent)
        reply = self.script.replies.pop(0)
        self.send_response(reply.status)
        for k, v in {"Content-Length": str(len(reply.body)), **reply.headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    _Handler.script = Script()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    # shutdown() waits for one poll: 0.5 s a test by default.
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/w.bin", _Handler.script
    finally:
        httpd.shutdown()


class Sink:
    def __init__(self) -> None:
        self.done, self.total, self.reports = 0, None, 0

    done: int
    total: int | None

    def add(self, n: int) -> None:
        self.done += n

    def report(self) -> None:
        self.reports += 1


def _fetch(url: str, blob: Path, sink: Sink | None = None) -> Sink:
    sink = sink or Sink()
    fetch(url, blob, sink, free_space=lambda _: 2**40, shown="the URL")
    return sink


def test_a_partial_file_is_resumed_with_its_validator(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    blob = tmp_path / "blob"
    blob.write_bytes(BODY[:300])
    (tmp_path / "blob.validator").write_text('"v1"')
    script.replies = [
        Reply(206, {"Content-Range": f"bytes 300-999/{len(BODY)}", "ETag": '"v1"'}, BODY[300:])
    ]
    sink = _fetch(url, blob)
    assert script.requests == [{"Range": "bytes=300-", "If-Range": '"v1"'}]
    assert blob.read_bytes() == BODY
    assert (sink.done, sink.total) == (len(BODY), len(BODY))


def test_416_starts_over_from_byte_zero_once(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    blob = tmp_path / "blob"
    blob.write_bytes(BODY)
    (tmp_path / "blob.validator").write_text('"old"')
    script.replies = [Reply(416), Reply(200, {"ETag": '"v2"'}, BODY)]
    _fetch(url, blob)
    assert script.requests == [{"Range": f"bytes={len(BODY)}-", "If-Range": '"old"'}, {}]
    assert blob.read_bytes() == BODY
    assert (tmp_path / "blob.validator").read_text() == '"v2"'


def test_a_wrong_content_range_discards_the_partial_file(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    blob = tmp_path / "blob"
    blob.write_bytes(BODY[:300])
    (tmp_path / "blob.validator").write_text('"v1"')
    script.replies = [Reply(206, {"Content-Range": f"bytes 0-999/{len(BODY)}"}, BODY)]
    with pytest.raises(RuntimeError, match="unexpected Content-Range from the URL"):
        _fetch(url, blob)
    assert not blob.exists()
    assert not (tmp_path / "blob.validator").exists()


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ({"ETag": '"strong"'}, '"strong"'),
        ({"ETag": 'W/"weak"'}, None),  # If-Range needs a strong validator
        ({"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}, "Wed, 21 Oct 2015 07:28:00 GMT"),
        ({}, None),
    ],
)
def test_the_validator_kept_for_a_resume(
    server: tuple[str, Script], tmp_path: Path, headers: dict[str, str], kept: str | None
) -> None:
    url, script = server
    validator = tmp_path / "blob.validator"
    validator.write_text("stale")
    script.replies = [Reply(200, headers, BODY)]
    sink = _fetch(url, tmp_path / "blob")
    assert (validator.read_text() if validator.exists() else None) == kept
    assert (sink.done, sink.total, sink.reports) == (len(BODY), len(BODY), 1)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        *((s, PermanentError) for s in (401, 403, 404, 410)),
        *((s, RuntimeError) for s in (429, 500, 503)),
    ],
)
def test_error_statuses(
    server: tuple[str, Script], tmp_path: Path, status: int, error: type[Exception]
) -> None:
    url, script = server
    script.replies = [Reply(status)]
    with pytest.raises(error, match=rf"HTTP {status} .* from the URL") as e:
        _fetch(url, tmp_path / "blob")
    assert e.type is error


def test_too_little_space_fails_before_the_body(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.replies = [Reply(200, {}, BODY)]
    with pytest.raises(PermanentError, match=r"need 0\.0 MiB, 0\.0 MiB free"):
        fetch(url, tmp_path / "blob", Sink(), free_space=lambda _: 10, shown="the URL")
    assert not (tmp_path / "blob").exists()

"""Download progress as Model status fields (progress_fields.py, pure) and the
downloader's reporter (progress.py): table tests, a fake clock, real files."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pasture_operator.fetch import fetch
from pasture_operator.progress import Progress, bytes_present, status_writer
from pasture_operator.progress_fields import (
    Sample,
    carried,
    eta,
    human,
    rate,
    recent,
    status_fields,
    text,
)

MiB = 2**20


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], None),
        ([(0, 0)], None),
        ([(0, 0), (0, 5)], None),  # no time passed
        ([(0, 0), (2, 10 * MiB)], 5 * MiB),
        ([(0, 0), (1, MiB), (2, 3 * MiB), (4, 3 * MiB)], 0.75 * MiB),
        ([(0, 5), (2, 3)], 0.0),  # a count going back (files renamed) is not negative
    ],
)
def test_rate(samples: list[tuple[float, int]], expected: float | None) -> None:
    assert rate([Sample(t, d) for t, d in samples]) == expected


def test_recent_keeps_the_window_and_the_newest() -> None:
    samples = [Sample(t, t) for t in (0, 5, 11, 14, 20)]
    assert recent(samples, window=10) == [Sample(11, 11), Sample(14, 14), Sample(20, 20)]
    assert recent(samples[:1], window=10) == samples[:1]
    assert recent([]) == []


@pytest.mark.parametrize(
    ("done", "total", "per_second", "expected"),
    [
        (0, None, 100.0, None),  # size unknown
        (50, 100, None, None),  # no rate yet
        (50, 100, 0.0, None),  # stalled
        (50, 100, 10.0, 5),
        (50, 100, 15.0, 4),  # whole seconds, rounded up
        (100, 100, None, 0),
        (120, 100, 1.0, 0),
    ],
)
def test_eta(done: int, total: int | None, per_second: float | None, expected: int | None) -> None:
    assert eta(done, total, per_second) == expected


@pytest.mark.parametrize(
    ("done", "total", "shown"),
    [
        (0, None, "0 B"),
        (1536, None, "1.5 KiB"),
        (0, 3 * 2**30, "0% of 3.0 GiB"),
        (42 * 2**30 // 100 * 3 + 2**20, 3 * 2**30, "42% of 3.0 GiB"),
        (3 * 2**30, 3 * 2**30, "100% of 3.0 GiB"),
        (4 * MiB, 2 * MiB, "100% of 2.0 MiB"),
    ],
)
def test_text(done: int, total: int | None, shown: str) -> None:
    assert text(done, total) == shown


def test_human_units() -> None:
    assert [human(n) for n in (512, 2048, 3 * MiB, 5 * 2**30)] == [
        "512 B",
        "2.0 KiB",
        "3.0 MiB",
        "5.0 GiB",
    ]


def test_status_fields_while_downloading_and_at_the_end() -> None:
    samples = [Sample(0, 0), Sample(2, 20 * MiB), Sample(4, 40 * MiB)]
    live = status_fields(samples, 100 * MiB, "T")
    assert live == {
        "bytesDone": 40 * MiB,
        "bytesTotal": 100 * MiB,
        "bytesPerSecond": 10 * MiB,
        "etaSeconds": 6,
        "progress": "40% of 100.0 MiB",
        "progressTime": "T",
    }
    final = status_fields(
        [*samples, Sample(10, 100 * MiB)], None, "T2", final=True, started=samples[0]
    )
    assert final["bytesTotal"] == final["bytesDone"] == 100 * MiB  # unknown size: what came
    assert (final["bytesPerSecond"], final["etaSeconds"]) == (10 * MiB, 0)  # the average
    assert status_fields([], None, "T")["bytesDone"] == 0


STATUS = {
    "phase": "Downloading",
    "bytesDone": 5,
    "bytesTotal": 10,
    "bytesPerSecond": 1,
    "etaSeconds": 5,
    "progress": "50% of 10 B",
    "progressTime": "T",
    "digest": "sha256:ab",
    "message": "the operator's own",
}


@pytest.mark.parametrize(
    ("phase", "kept"),
    [
        ("Downloading", ["bytesDone", "bytesTotal", "bytesPerSecond", "etaSeconds"]),
        ("Ready", ["bytesDone", "bytesTotal"]),
        ("Failed", ["bytesDone", "bytesTotal"]),
        ("Pending", ["bytesDone", "bytesTotal"]),
    ],
)
def test_carried_keeps_the_live_fields_only_while_downloading(phase: str, kept: list[str]) -> None:
    out = carried(STATUS, phase)
    assert sorted(out) == sorted([*kept, "progress", "progressTime", "digest"])
    assert "message" not in out
    assert "phase" not in out
    assert carried({"bytesDone": None}, "Downloading") == {}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reports_at_most_every_interval_and_finishes_with_extra_fields(tmp_path: Path) -> None:
    clock, sent = Clock(), list[dict[str, Any]]()
    p = Progress(tmp_path / "p.json", sent.append, clock=clock, interval=2.0)
    p.total = 4 * MiB
    for _ in range(4):  # 1 MiB a second
        clock.now += 1.0
        p.add(MiB)
    assert [s["bytesDone"] for s in sent] == [MiB, 3 * MiB]  # t=1 (first), t=3
    assert sent[-1]["bytesPerSecond"] == MiB
    assert sent[-1]["etaSeconds"] == 1
    clock.now += 1.0
    final = p.finish({"digest": "sha256:ab"})
    assert final["digest"] == "sha256:ab"
    assert final["etaSeconds"] == 0
    assert sent[-1] == final
    on_disk = json.loads((tmp_path / "p.json").read_text())
    assert (on_disk["done"], on_disk["total"], on_disk["digest"]) == (4 * MiB, 4 * MiB, "sha256:ab")


def test_a_resumed_count_starts_the_rate_window_afresh() -> None:
    clock, sent = Clock(), list[dict[str, Any]]()
    p = Progress(None, sent.append, clock=clock, interval=0.0)
    p.report()
    clock.now = 1.0
    p.done, p.total = 900 * MiB, 1000 * MiB  # the partial file of an earlier attempt
    p.report()
    assert sent[-1]["bytesPerSecond"] is None  # not 900 MiB/s
    clock.now = 2.0
    p.add(10 * MiB)
    assert sent[-1]["bytesPerSecond"] == 10 * MiB
    assert sent[-1]["etaSeconds"] == 9


def test_a_sampler_gives_the_count_and_a_failing_writer_is_told_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = [0]

    def refuse(fields: dict[str, Any]) -> None:
        raise RuntimeError("403 Forbidden")

    clock = Clock()
    p = Progress(tmp_path / "p.json", refuse, clock=clock, interval=0.0)
    p.sample(lambda: held[0])
    for n in (1, 2, 3):
        held[0], clock.now = n * MiB, float(n)
        p.report()
    assert json.loads((tmp_path / "p.json").read_text())["bytesDone"] == 3 * MiB
    p.settle(4 * MiB)  # the files moved away: the sampler is gone, the window stays
    held[0], clock.now = 0, 4.0
    final = p.finish()
    assert final["bytesDone"] == 4 * MiB
    assert final["bytesPerSecond"] == MiB  # (4 - 1) MiB over 3 s
    assert capsys.readouterr().err.count("403 Forbidden") == 1


def test_ticking_reports_while_no_byte_arrives() -> None:
    sent: list[dict[str, Any]] = []
    p = Progress(None, sent.append, interval=0.05)
    with p.ticking():
        time.sleep(0.5)
    assert len(sent) >= 3  # a stalled download still shows fresh fields


def test_bytes_present_counts_files_and_partial_downloads_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "config.json").write_bytes(b"x" * 10)
    (tmp_path / "sub" / "a.safetensors").write_bytes(b"x" * 100)
    download = tmp_path / ".cache" / "huggingface" / "download"
    download.mkdir(parents=True)
    (download / "abc.etag.incomplete").write_bytes(b"x" * 1000)
    (download / "model.safetensors.metadata").write_bytes(b"x" * 7)
    (download / "model.safetensors.lock").write_bytes(b"")
    assert bytes_present(tmp_path) == 1110
    assert bytes_present(tmp_path / "missing") == 0


def test_status_writer_only_inside_a_pod_of_a_model(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    env = {
        "PASTURE_MODEL_NAME": "m",
        "POD_NAMESPACE": "ns",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "PASTURE_SERVICEACCOUNT_DIR": str(tmp_path),
    }
    assert status_writer(env) is not None
    for missing in ("PASTURE_MODEL_NAME", "POD_NAMESPACE", "KUBERNETES_SERVICE_HOST"):
        assert status_writer({k: v for k, v in env.items() if k != missing}) is None
    assert status_writer({**env, "PASTURE_SERVICEACCOUNT_DIR": str(tmp_path / "no")}) is None


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(8 * 64 * 1024))
        self.end_headers()
        for _ in range(8):
            self.wfile.write(b"\0" * 64 * 1024)
            self.wfile.flush()
            time.sleep(0.05)

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_body_moves_the_count_before_it_ends(tmp_path: Path) -> None:
    """Under 1 MiB a report: the count still moves (the body is not read in 1 MiB pieces)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    counts: list[int] = []
    p = Progress(None, lambda fields: counts.append(fields["bytesDone"]), interval=0.0)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/w.bin"
        fetch(url, tmp_path / "w.bin", p, free_space=lambda _: 2**40)
    finally:
        httpd.shutdown()
    assert counts[-1] == 8 * 64 * 1024
    assert [c for c in counts if 0 < c < counts[-1]], counts


class _HubApi(http.server.BaseHTTPRequestHandler):
    """The one hub call hf_total makes (the hub itself cannot be reached here)."""

    siblings: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        if not self.path.startswith("/api/models/org/tiny/revision/main?"):
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"id": "org/tiny", "sha": "0" * 40, "siblings": self.siblings})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("siblings", "total"),
    [
        ([{"rfilename": "config.json", "size": 10}, {"rfilename": "w.bin", "size": 20}], "30"),
        ([{"rfilename": "config.json", "size": 10}, {"rfilename": "w.bin"}], "None"),
        ([], "None"),
    ],
)
def test_the_hugging_face_total_comes_from_the_file_list(
    siblings: list[dict[str, Any]], total: str
) -> None:
    _HubApi.siblings = siblings
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubApi)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    code = (
        "from pasture_operator.downloader import hf_total as t; print(t('org/tiny', 'main', None))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{httpd.server_address[1]}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        httpd.shutdown()
    assert out.stdout.strip() == total, out.stderr

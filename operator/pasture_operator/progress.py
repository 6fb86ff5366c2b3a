"""The downloader's progress reports: sampled bytes -> Model status fields -> writers.

`Progress` counts bytes as a URL download streams them (`add`), or samples a
callable (the bytes huggingface_hub has written so far) while the download runs
in another call. A ticker thread reports at most every REPORT_EVERY seconds and
at least that often even when no byte arrives (a stalled download shows its rate
falling to 0), so the Model's status moves every ~2 s, well within the 5 s users
are promised. Fields come from progress_fields.py (pure).

Reports go to --progress-file (the fields plus `done`/`total`) and, inside the
download Job's pod, straight to the Model's status subresource as a merge patch,
with the Job's own ServiceAccount: the operator grants it `patch` on that one
Model's status and nothing else (builders/download_access.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from pasture_operator.constants import API_VERSION, MODEL_PLURAL
from pasture_operator.progress_fields import Sample, status_fields

REPORT_EVERY = 2.0  # seconds between reports
# Set by the download Job (builders/cache.py): whose status to write.
MODEL_ENV, NAMESPACE_ENV = "PASTURE_MODEL_NAME", "POD_NAMESPACE"
# Where the pod's ServiceAccount token and CA are; a test playing the pod moves it.
SERVICEACCOUNT_ENV = "PASTURE_SERVICEACCOUNT_DIR"
_SERVICEACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

Writer = Callable[[dict[str, Any]], None]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Progress:
    """Bytes done / total of one download, reported to a file and a writer."""

    def __init__(
        self,
        progress_file: Path | None,
        write: Writer | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = REPORT_EVERY,
    ) -> None:
        self.total: int | None = None
        self.digest: str | None = None  # the weights manifest's, once sealed (manifest.py)
        self._file, self._write, self._clock, self._interval = progress_file, write, clock, interval
        self._done = 0
        self._samples: list[Sample] = []
        self._started: Sample | None = None
        self._last = -interval
        self._sampler: Callable[[], int] | None = None
        self._lock = threading.Lock()  # the samples
        self._sending = threading.Lock()  # one report at a time, in order
        self._failure = ""

    @property
    def done(self) -> int:
        return self._done

    @done.setter
    def done(self, n: int) -> None:
        """A count set outright (a resumed download's offset) starts the rate window
        afresh: bytes already on disk did not arrive at any rate."""
        with self._lock:
            self._done = n
            self._samples, self._started = [], None

    def settle(self, n: int) -> None:
        """The final count of a sampled download (its files moved elsewhere), keeping
        the rate window: the final report's average rate still holds."""
        with self._lock:
            self._sampler, self._done = None, n

    def add(self, n: int) -> None:
        self._done += n
        if self._clock() - self._last >= self._interval:
            self.report()

    def sample(self, bytes_held: Callable[[], int] | None) -> None:
        """While set, each tick reads the count from `bytes_held` (a download that
        gives no callback: the bytes huggingface_hub has written so far)."""
        self._sampler = bytes_held

    def report(self) -> None:
        with self._sending:
            self._send(self._fields(final=False))

    def finish(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The final report: average rate, ETA 0, plus `extra` fields (e.g. a digest)."""
        with self._sending:
            return self._send({**self._fields(final=True), **(extra or {})})

    def _fields(self, *, final: bool) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            if self._sampler is not None:
                with contextlib.suppress(OSError):  # files come and go under huggingface_hub
                    self._done = self._sampler()
            self._samples = [*self._samples[-63:], Sample(now, self._done)]
            self._started = self._started or self._samples[0]
            self._last = now
            return status_fields(
                self._samples, self.total, _now(), final=final, started=self._started
            )

    def _send(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self._file is not None:
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"done": self._done, "total": self.total, **fields}))
            tmp.replace(self._file)
        if self._write is not None:
            try:
                self._write(fields)
            except Exception as e:  # progress is best effort; say so once per cause
                if str(e) != self._failure:
                    print(f"progress report failed: {e}", file=sys.stderr)
                self._failure = str(e)
        return fields

    def _tick(self) -> None:
        if self._clock() - self._last >= self._interval:
            self.report()

    @contextlib.contextmanager
    def ticking(self) -> Iterator[None]:
        """Report on a timer while the block runs (also when no byte arrives)."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(self._interval / 4):
                self._tick()

        thread = threading.Thread(target=run, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def bytes_present(root: Path) -> int:
    """Bytes of the files under `root` huggingface_hub has written: finished files and
    its `.incomplete` partial files (under `.cache/`), not its locks and metadata."""
    total = 0
    for path in root.rglob("*"):
        inside_cache = ".cache" in path.relative_to(root).parts
        if inside_cache and not path.name.endswith(".incomplete"):
            continue
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            if path.is_file():
                total += path.stat().st_size
    return total


def status_writer(env: Mapping[str, str] = os.environ) -> Writer | None:
    """Merge-patch the Model's status from inside the download Job's pod (None elsewhere)."""
    name, ns = env.get(MODEL_ENV), env.get(NAMESPACE_ENV)
    sa = Path(env.get(SERVICEACCOUNT_ENV) or _SERVICEACCOUNT)
    host = env.get("KUBERNETES_SERVICE_HOST")
    if not (name and ns and host and (sa / "token").exists()):
        return None
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    port = env.get("KUBERNETES_SERVICE_PORT", "443")
    url = f"https://{host}:{port}/apis/{API_VERSION}/namespaces/{ns}/{MODEL_PLURAL}/{name}/status"

    def write(fields: dict[str, Any]) -> None:
        token = (sa / "token").read_text().strip()  # projected tokens are rotated
        httpx.patch(
            url,
            verify=ssl.create_default_context(cafile=str(sa / "ca.crt")),
            timeout=10,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/merge-patch+json",
            },
            content=json.dumps({"status": fields}),
        ).raise_for_status()

    return write

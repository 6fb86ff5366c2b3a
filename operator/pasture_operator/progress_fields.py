"""A download's progress as Model status fields, from byte-count samples. Pure.

The downloader (progress.py) samples how many bytes it holds about every two
seconds and writes these fields straight into its Model's status; the
operator carries them over in its own status writes (reconcile/model_plan.py)
and keeps the live ones (rate, ETA) only while the Model is Downloading.

Rate is measured over a sliding window (the last WINDOW_SECONDS of samples), so
a stall shows as a falling rate within seconds instead of a lifetime average
that hides it; the ETA is what is left at that rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = 10.0

# Every status field a downloader writes; the operator carries exactly these
# (plus EXTRA_FIELDS) over from the status it read.
BYTES_DONE, BYTES_TOTAL = "bytesDone", "bytesTotal"
RATE, ETA = "bytesPerSecond", "etaSeconds"
TEXT, TIME = "progress", "progressTime"
# Meaningful only while bytes are moving: dropped once the Model leaves Downloading.
LIVE_FIELDS = (RATE, ETA)
STATUS_FIELDS = (BYTES_DONE, BYTES_TOTAL, RATE, ETA, TEXT, TIME)
# Fields a final report may add (the digest of what was downloaded).
EXTRA_FIELDS = ("digest",)


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic seconds
    done: int  # bytes held at that moment


def recent(samples: Sequence[Sample], window: float = WINDOW_SECONDS) -> list[Sample]:
    """The samples of the last `window` seconds (the newest always kept)."""
    if not samples:
        return []
    newest = samples[-1].at
    return [s for s in samples if newest - s.at <= window]


def rate(samples: Sequence[Sample]) -> float | None:
    """Bytes per second between the first and the last sample; None with under two."""
    if len(samples) < 2 or samples[-1].at <= samples[0].at:
        return None
    return max(0.0, (samples[-1].done - samples[0].done) / (samples[-1].at - samples[0].at))


def eta(done: int, total: int | None, per_second: float | None) -> int | None:
    """Whole seconds left at `per_second`; None when unknown (no total, no movement)."""
    if total is None:
        return None
    if done >= total:
        return 0
    if not per_second:
        return None
    return math.ceil((total - done) / per_second)


def human(n: float) -> str:
    """Bytes in binary units, as `kubectl get` columns are read: 1.2 GiB, 340.0 MiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def text(done: int, total: int | None) -> str:
    """The printer column: `42% of 3.4 GiB`, or bytes alone when the size is unknown."""
    if not total:
        return human(done)
    percent = min(100, math.floor(100 * done / total))
    return f"{percent}% of {human(total)}"


def status_fields(
    samples: Sequence[Sample],
    total: int | None,
    wall_time: str,
    *,
    final: bool = False,
    started: Sample | None = None,
) -> dict[str, Any]:
    """The status fields for the newest sample. A final report gives the average rate
    since `started` (the whole download) and ETA 0."""
    done = samples[-1].done if samples else 0
    if final:
        total = total if total is not None else done
        per_second = rate([started, samples[-1]]) if started and samples else None
    else:
        per_second = rate(recent(samples))
    fields: dict[str, Any] = {
        BYTES_DONE: done,
        BYTES_TOTAL: total,
        RATE: round(per_second) if per_second is not None else None,
        ETA: 0 if final else eta(done, total, per_second),
        TEXT: text(done, total),
        TIME: wall_time,
    }
    return fields


def carried(old_status: Mapping[str, Any], phase: str) -> dict[str, Any]:
    """The downloader's fields of `old_status` the operator writes back unchanged: all
    of them while Downloading, the live ones (rate, ETA) not in any other phase."""
    keep = [*STATUS_FIELDS, *EXTRA_FIELDS]
    if phase != "Downloading":
        keep = [k for k in keep if k not in LIVE_FIELDS]
    return {k: old_status[k] for k in keep if old_status.get(k) is not None}

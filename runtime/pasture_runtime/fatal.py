"""A fatal error's cause, in one line, where Kubernetes reads it.

The kubelet copies a terminated container's termination message file
(`terminationMessagePath`, default /dev/termination-log) into the pod's
`lastState.terminated.message`; the operator puts that into the
ModelDeployment's CrashLoopBackOff/OOMKilled condition. Without it a
person sees "exit code 1" and has to find the pod's log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

# The kubelet keeps at most 4096 bytes of a container's message (12 KiB for
# all containers of a pod); a condition message wants one readable line.
MAX_CHARS = 1000

ENGINE_DIED = (
    "engine died: the vLLM engine core process exited unexpectedly "
    "(its last log lines say why, e.g. CUDA error, out of memory, NCCL)"
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it (`raise ... from`, then implicit context)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _hub_status(exc: BaseException) -> int | None:
    """The HTTP status of a Hugging Face hub error (HfHubHTTPError and its
    subclasses carry the response), else None."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def cause(exc: BaseException, model: str) -> str:
    """One line saying why the engine could not start (or run) `model`."""
    chain = list(_chain(exc))
    for e in chain:
        text = str(e)
        if type(e).__name__ == "OutOfMemoryError" or "out of memory" in text.lower():
            return _clip(f"out of memory starting the engine for {model}: {_first_line(text)}")
    for e in chain:
        status = _hub_status(e)
        name = type(e).__name__
        if status in (401, 403) or name == "GatedRepoError":
            return _clip(
                f"Hugging Face hub refused {model} ({status or 'gated'}): check the token "
                f"Secret and the repo's access terms: {_first_line(str(e))}"
            )
        if status == 404 or name in ("RepositoryNotFoundError", "RevisionNotFoundError"):
            return _clip(
                f"Hugging Face hub has no {model} (404): check the repo id and revision: "
                f"{_first_line(str(e))}"
            )
    root = chain[-1]
    detail = f"{type(root).__name__}: {_first_line(str(root))}"
    if root is not exc:
        detail = f"{type(exc).__name__}: {_first_line(str(exc))} (cause: {detail})"
    return _clip(f"engine failed to start for {model}: {detail}")


def _clip(line: str) -> str:
    line = " ".join(line.split())  # one line, whatever the exception text held
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 3] + "..."


def record(path: str, line: str) -> bool:
    """Write `line` as the termination message, unless one is already there
    (the first cause wins: later errors are usually its consequences). Never
    raises: no such file or no permission (a laptop's /dev) is not an error."""
    if not path:
        return False
    try:
        with open(path, "a", encoding="utf-8") as f:
            if f.tell() > 0:
                return False
            f.write(_clip(line) + "\n")
    except OSError:
        log.debug("cannot write the termination message to %s", path, exc_info=True)
        return False
    return True

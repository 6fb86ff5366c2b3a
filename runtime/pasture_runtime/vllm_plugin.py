"""A vLLM general plugin (entry point `vllm.general_plugins`): vLLM loads it
in each of its processes, among them the engine core and its workers.

The root cause of most fatal engine errors (CUDA out of memory while loading
or profiling, a CUDA error while serving) is raised in those child
processes; the API process only sees "Engine core initialization failed. See
root cause above" or EngineDeadError. Here each vLLM process writes the cause
it logs to the termination message itself, before the API process writes its
vaguer line (the first cause wins: fatal.record)."""

from __future__ import annotations

import logging
import os

from . import cpu_features, fatal

# Set by the runtime (app.py) before it builds the engine; children inherit them.
PATH_ENV = "PASTURE_TERMINATION_MESSAGE_PATH"
MODEL_ENV = "PASTURE_FATAL_MODEL"

# What vLLM logs (logger.exception) when its engine core or a worker dies.
_FATAL = (
    "EngineCore failed to start",
    "EngineCore encountered a fatal error",
    "WorkerProc failed to start",
    "WorkerProc failed",
    "WorkerProc hit an exception",
)


class FatalCauseHandler(logging.Handler):
    """Writes the cause of vLLM's fatal-error log records to the termination message."""

    def __init__(self, path: str, model: str) -> None:
        super().__init__(logging.ERROR)
        self.path = path
        self.model = model

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not str(record.msg).startswith(_FATAL):
            return
        fatal.record(self.path, fatal.cause(exc, self.model))


def register() -> None:
    """vLLM's plugin entry point: called once per vLLM process."""
    cpu_features.allow_amx()
    path = os.environ.get(PATH_ENV)
    if not path:  # not started by the runtime (tests, plain vLLM): nothing to do
        return
    logger = logging.getLogger("vllm")
    if not any(isinstance(h, FatalCauseHandler) for h in logger.handlers):
        logger.addHandler(FatalCauseHandler(path, os.environ.get(MODEL_ENV, "the model")))

"""Root causes from pod status (table tests): a terminated container's last
words (the runtime's termination message, or the log tail the kubelet puts
there under FallbackToLogsOnError) reach the CrashLoopBackOff/OOMKilled
problem the ModelDeployment's conditions carry."""

from __future__ import annotations

from typing import Any

import pytest

from pasture_operator.reconcile.pod_health import worst_problem
from tests.operator.helpers import pod

CAUSE = "out of memory starting the engine for /models/llama: CUDA out of memory. Tried to allocate"
LOG_TAIL = (
    '{"level": "info", "msg": "starting"}\n'
    "Traceback (most recent call last):\n"
    "RuntimeError: Engine core initialization failed\n\n"
)


def _runtime(state: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
    status = {"name": "runtime", "state": state}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return pod("p1", containerStatuses=[status])


CRASHLOOP = {"waiting": {"reason": "CrashLoopBackOff"}}


@pytest.mark.parametrize(
    ("pods", "reason", "message"),
    [
        (
            [_runtime(CRASHLOOP, {"exitCode": 1, "reason": "Error", "message": CAUSE + "\n"})],
            "CrashLoopBackOff",
            f"pod p1: container runtime keeps exiting (exit code 1): {CAUSE}",
        ),
        (
            [_runtime(CRASHLOOP, {"exitCode": 1, "reason": "Error", "message": LOG_TAIL})],
            "CrashLoopBackOff",
            "pod p1: container runtime keeps exiting (exit code 1): "
            "RuntimeError: Engine core initialization failed",
        ),
        (
            [_runtime(CRASHLOOP, {"exitCode": 1, "reason": "Error"})],
            "CrashLoopBackOff",
            "pod p1: container runtime keeps exiting (exit code 1)",
        ),
        (
            [_runtime(CRASHLOOP, {"exitCode": 137, "reason": "OOMKilled", "message": LOG_TAIL})],
            "OOMKilled",
            "pod p1: container runtime was OOMKilled: raise resources.memory or lower "
            "engine.maxModelLen: RuntimeError: Engine core initialization failed",
        ),
        (
            [_runtime({"terminated": {"exitCode": 137, "reason": "OOMKilled"}})],
            "OOMKilled",
            "pod p1: container runtime was OOMKilled: raise resources.memory or lower "
            "engine.maxModelLen",
        ),
        (
            [_runtime(CRASHLOOP, {"exitCode": 1, "message": "x" * 2000})],
            "CrashLoopBackOff",
            "pod p1: container runtime keeps exiting (exit code 1): " + "x" * 500,
        ),
    ],
    ids=["termination-message", "log-tail", "no-message", "oom-log-tail", "oom-now", "long"],
)
def test_terminated_container_message_reaches_the_problem(
    pods: list[dict[str, Any]], reason: str, message: str
) -> None:
    problem = worst_problem(pods)
    assert problem is not None
    assert (problem.reason, problem.message) == (reason, message)

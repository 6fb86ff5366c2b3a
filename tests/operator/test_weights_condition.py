"""A runtime that refused tampered weights: its termination message (written by the
runtime's own weights_check.py on a really tampered copy) reaches the
ModelDeployment's Ready and Degraded conditions and a Warning Event (pure plan)."""

from __future__ import annotations

from pathlib import Path

from pasture_operator.manifest import seal
from pasture_runtime.weights_check import TamperedWeights, refusal, verify
from tests.operator.helpers import md, pod
from tests.operator.test_deployment_plan import _observed_dep, cond, plan


def _termination_message(tmp_path: Path) -> str:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    seal(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 63 + b"\x01")
    try:
        verify(str(tmp_path))
    except TamperedWeights as e:
        return refusal("/models/model", e) + "\n"
    raise AssertionError("the tampered copy was accepted")


def test_the_refusal_reaches_the_modeldeployments_condition(tmp_path: Path) -> None:
    message = _termination_message(tmp_path)
    refused = pod(
        "p1",
        containerStatuses=[
            {
                "name": "runtime",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "message": message}},
            }
        ],
    )
    first = plan(md())
    children = {(o["kind"], o["metadata"]["name"]): o for o in first.apply}
    children[("Deployment", "tiny")] = _observed_dep(children[("Deployment", "tiny")], 0)
    p = plan(md(), children=children, pods=[refused])
    ready = cond(p, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "CrashLoopBackOff")
    assert "refusing to serve /models/model: tampered weights: " in ready["message"]
    assert "model.safetensors has sha256" in ready["message"]
    assert cond(p, "Degraded")["status"] == "True"
    assert any(e.type == "Warning" and "tampered weights" in e.message for e in p.events)

"""The alert rules with promtool: syntax (`check rules`) and behaviour (`test rules`),
one firing and one silent test per alert."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helpers import RULES, promtool

HERE = Path(__file__).parent


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in out.stdout


def test_issue_alerts_all_present() -> None:
    names = {a["alert"] for a in alerts()}
    assert names == {
        "PastureNoReadyReplicas",
        "PastureRuntimeNotReady",
        "PastureRuntimeStalled",
        "PastureTTFTP95High",
        "PastureQueueSaturated",
        "PastureKVCacheNearFull",
        "PastureAdmissionRejections",
        "PastureModelDownloadFailed",
        "PastureModelDeploymentNotReady",
        "PastureOperatorReconcileErrors",
        "PastureGatewayHoldTimeouts",
    }
    for a in alerts():
        assert a["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook_url"} <= a["annotations"].keys()


def test_every_alert_has_a_firing_and_a_silent_test() -> None:
    tests = yaml.safe_load((HERE / "rules_test.yaml").read_text())["tests"]
    for a in alerts():
        name = a["alert"]
        checks = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in checks), f"no test where {name} fires"
        assert any(not c["exp_alerts"] for c in checks), f"no test where {name} stays silent"


def test_promtool_test_rules(tmp_path: Path) -> None:
    # promtool compares annotations exactly; behaviour is tested on a copy without them
    # (rules_annotations_test.yaml tests the annotations as written, below).
    doc = yaml.safe_load(RULES.read_text())
    for g in doc["groups"]:
        for r in g["rules"]:
            r.pop("annotations", None)
    (tmp_path / "pasture-rules.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copy(HERE / "rules_test.yaml", tmp_path)
    out = subprocess.run(
        [promtool(), "test", "rules", "rules_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_test_rule_annotations() -> None:
    out = subprocess.run(
        [promtool(), "test", "rules", "rules_annotations_test.yaml"],
        cwd=HERE,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("alert", [a["alert"] for a in alerts()])
def test_alert_fires_and_stays_silent(alert: str, tmp_path: Path) -> None:
    """Each alert alone: its firing and silent tests pass (a failure names the alert)."""
    doc = yaml.safe_load(RULES.read_text())
    for g in doc["groups"]:
        g["rules"] = [
            {k: v for k, v in r.items() if k != "annotations"}
            for r in g["rules"]
            if r.get("alert") == alert
        ]
    (tmp_path / "pasture-rules.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    tests = yaml.safe_load((HERE / "rules_test.yaml").read_text())
    tests["tests"] = [
        t for t in tests["tests"] if all(c["alertname"] == alert for c in t["alert_rule_test"])
    ]
    assert len(tests["tests"]) >= 2
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run(
        [promtool(), "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr

"""``runyard shadow``, ``switchback`` and ``ensemble`` against a real server."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import Cli, Deployed


def _until(check, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_shadow_commands(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    app_id, base = deployed.app_id, deployed.instance_id
    runyard.ok("instance", "create", app_id, "cand", "--version", deployed.version_id)
    made = runyard.json("shadow", "create", app_id, "--baseline", base, "--candidate", "cand", "--maximum-runs", "1",
                        "--id", "sh", "--start")
    assert made["status"] == "started"
    runyard.json("run", "submit", app_id, "-i", str(input_file), "--instance", base, "--wait")
    done = _until(lambda: (t := runyard.json("shadow", "get", app_id, "sh"))["status"] == "completed" and t)
    assert sorted(r["arm"] for r in done["runs"]) == ["baseline", "candidate"]
    analysed = runyard.ok("shadow", "analysis", app_id, "sh").stdout
    assert "Candidate − baseline" in analysed
    shown = runyard.ok("shadow", "get", app_id, "sh").stdout
    assert "after 1 baseline runs" in shown and "candidate" in shown and "Results per group" in shown
    assert "sh" in runyard.ok("shadow", "list", app_id).stdout
    runyard.ok("shadow", "create", app_id, "--baseline", base, "--candidate", "cand", "--maximum-runs", "3", "--id", "s2")
    runyard.ok("shadow", "stop", app_id, "s2", "--intent", "cancel")
    assert runyard.json("shadow", "get", app_id, "s2")["status"] == "canceled"
    runyard.ok("shadow", "delete", app_id, "s2")
    assert "does not exist" in runyard.fails("shadow", "get", app_id, "s2")
    assert "ISO 8601" in runyard.fails("shadow", "create", app_id, "--baseline", base, "--candidate", "cand",
                                       "--maximum-runs", "3", "--id", "s3", "--end-time", "yesterday")


def test_switchback_commands(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    app_id, base = deployed.app_id, deployed.instance_id
    runyard.ok("instance", "create", app_id, "cand", "--version", deployed.version_id)
    made = runyard.json("switchback", "create", app_id, "--baseline", base, "--candidate", "cand", "--units", "4",
                        "--unit-minutes", "60", "--id", "sw", "--start")
    first = made["plan"]["units"][0]["instance_id"]
    run = runyard.json("run", "submit", app_id, "-i", str(input_file), "--instance", base, "--wait")
    assert run["metadata"]["application_instance_id"] == first
    shown = runyard.ok("switchback", "get", app_id, "sw").stdout
    assert "4 units" in shown and "seed" in shown
    runyard.ok("switchback", "stop", app_id, "sw")
    assert runyard.json("switchback", "list", app_id)[0]["status"] == "completed"
    runyard.ok("switchback", "delete", app_id, "sw")


def test_ensemble_commands(runyard: Cli, deployed: Deployed) -> None:
    app_id, base = deployed.app_id, deployed.instance_id
    made = runyard.json("ensemble", "create", app_id, "--group", f"g1:{base}:2", "--group", f"g2:{base}:0:sleep=0",
                        "--rule", "$.result.value:min:5%", "--id", "e1")
    assert made["run_groups"][0]["repetitions"] == 2 and made["rules"][0]["tolerance"] == {"value": 0.05, "type": "relative"}
    shown = runyard.ok("ensemble", "get", app_id, "e1").stdout
    assert "Run groups" in shown and "5%" in shown
    assert [d["id"] for d in runyard.json("ensemble", "list", app_id)] == ["e1"]
    assert "--group" in runyard.fails("ensemble", "create", app_id, "--group", "nope")
    runyard.ok("ensemble", "delete", app_id, "e1")

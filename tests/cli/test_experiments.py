"""``runyard input-set``, ``batch``, ``scenario`` and ``acceptance`` against a real server."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, Deployed


def _input_set(runyard: Cli, deployed: Deployed, input_file: Path) -> str:
    run_ids = [runyard.json("run", "submit", deployed.app_id, "-i", str(input_file), "--wait")["id"] for _ in range(2)]
    created = runyard.json("input-set", "create", deployed.app_id, "--id", "set1", *[a for r in run_ids for a in ("--run", r)])
    assert created["id"] == "set1" and len(created["input_ids"]) == 2
    assert [s["id"] for s in runyard.json("input-set", "list", deployed.app_id)] == ["set1"]
    return "set1"


def test_batch_scenario_and_acceptance(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    app_id, baseline = deployed.app_id, deployed.instance_id
    input_set = _input_set(runyard, deployed, input_file)
    runyard.ok("instance", "create", app_id, "cand", "--version", deployed.version_id)

    # batch: --wait shows a progress bar on stderr, then counts and the per-group summary
    waited = runyard.ok("batch", "create", app_id, "--input-set", input_set, "--instance", baseline,
                        "--instance", "cand", "--id", "b1", "--wait")
    assert "experiment b1" in waited.stderr and "4/4" in waited.stderr
    assert "completed" in waited.stdout and "4 of 4 done, 4 succeeded, 0 failed" in waited.stdout
    assert "result.value" in waited.stdout
    batch = runyard.json("batch", "get", app_id, "b1")
    assert batch["status"] == "completed" and batch["number_of_completed_runs"] == 4
    groups = batch["grouped_distributional_summaries"]
    assert sorted(g["group_values"][0] for g in groups) == sorted([baseline, "cand"])
    assert all(g["indicator_distributions"]["result.value"]["mean"] == 1 for g in groups)
    assert [b["id"] for b in runyard.json("batch", "list", app_id)] == ["b1"]
    assert "b1" in runyard.ok("batch", "list", app_id).stdout

    # scenario: every combination of option values
    scenario = runyard.json("scenario", "create", app_id, "--input-set", input_set, "--instance", baseline,
                            "--option", "sleep=0,0.01", "--id", "sc1", "--wait")
    assert scenario["status"] == "completed" and scenario["number_of_runs"] == 4
    shown = runyard.ok("scenario", "get", app_id, "sc1").stdout
    assert "sleep=0.01" in shown and "scenario-1" in shown
    assert [s["id"] for s in runyard.json("scenario", "list", app_id)] == ["sc1"]

    # acceptance over the batch's runs: one metric passes, the other cannot
    passed = runyard.json("acceptance", "create", app_id, "--id", "b1", "--candidate", "cand", "--baseline", baseline,
                          "--metric", "result.value:mean:le:5%", "--wait")
    assert passed["results"]["passed"] is True and passed["status"] == "completed"
    table = runyard.ok("acceptance", "get", app_id, "b1").stdout
    assert "result.value" in table and "pass" in table and "± 5%" in table
    assert [t["id"] for t in runyard.json("acceptance", "list", app_id)] == ["b1"]

    # the analysis block, paired by input: two inputs are not enough to tell
    analysed = runyard.ok("acceptance", "analysis", app_id, "b1").stdout
    assert "Candidate − baseline" in analysed and "result.value" in analysed and "not enough runs" in analysed
    compared = runyard.json("batch", "analysis", app_id, "b1", "--baseline", "cand")
    assert compared["comparisons"][0]["baseline_instance_id"] == "cand" and compared["comparisons"][0]["pairs"] == 2
    assert "not enough runs" in runyard.ok("batch", "analysis", app_id, "b1").stdout

    failing = runyard("acceptance", "create", app_id, "--id", "b2", "--input-set", input_set, "--candidate", "cand",
                      "--baseline", baseline, "--metric", "result.value:max:lt", "--wait")
    assert failing.exit_code == 1
    assert "fail" in failing.stdout and "did not pass" in failing.stderr


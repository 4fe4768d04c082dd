"""``runyard run``, ``track`` and ``queue`` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Cli, Deployed, wait_for


def test_submit_with_wait_prints_the_result(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    result = runyard.json("run", "submit", deployed.app_id, "--input", str(input_file),
                          "--instance", deployed.instance_id, "--name", "first", "--wait")
    assert result["metadata"]["status_v2"] == "succeeded"
    assert result["output"]["solution"] == {"stops": 3}
    assert result["name"] == "first" and result["metadata"]["application_instance_id"] == deployed.instance_id

    table = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file), "--wait")
    assert "succeeded" in table.stdout and '"stops": 3' in table.stdout


def test_submit_then_get_result_and_list(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    run_id = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file)).stdout.strip()
    assert run_id.startswith("run-")
    result = runyard.json("run", "result", deployed.app_id, run_id, "--wait")
    assert result["id"] == run_id and result["output"]["solution"] == {"stops": 3}

    info = runyard.json("run", "get", deployed.app_id, run_id)
    assert info["metadata"]["status_v2"] == "succeeded" and info["metadata"]["application_id"] == deployed.app_id
    assert "succeeded" in runyard.ok("run", "get", deployed.app_id, run_id).stdout

    listed = runyard.json("run", "list", deployed.app_id)
    assert [r["id"] for r in listed] == [run_id]
    assert set(listed[0]) >= {"id", "name", "status_v2", "created_at", "application_instance_id"}
    assert runyard.json("run", "list", deployed.app_id, "--status", "failed") == []


def test_text_input_from_stdin_and_options(runyard: Cli, deployed: Deployed) -> None:
    result = runyard.json("run", "submit", deployed.app_id, "--input", "-", "--option", "sleep=0", "--wait",
                          input="plain words\n")
    assert result["output"]["solution"] == {"text": "plain words\n"}


def test_a_failed_run_exits_1_after_its_result(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    result = runyard("run", "submit", deployed.app_id, "-i", str(input_file), "--option", "fail=true", "--wait")
    assert result.exit_code == 1
    assert "failed" in result.stdout and "run-" in result.stderr and "failed" in result.stderr


def test_logs_follow_streams_until_the_run_ends(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    run_id = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file), "--option", "sleep=1").stdout.strip()
    followed = runyard.ok("run", "logs", deployed.app_id, run_id, "--follow")
    lines = followed.stdout.splitlines()
    assert [line for line in lines if line.startswith("echo:")] == ["echo: line 0", "echo: line 1", "echo: line 2"]
    # --follow returns only once the run has ended
    assert runyard.json("run", "get", deployed.app_id, run_id)["metadata"]["status_v2"] == "succeeded"

    as_json = [json.loads(line) for line in runyard.ok("run", "logs", deployed.app_id, run_id, "-f", "-o", "json")
               .stdout.splitlines()]
    assert {"run_id": run_id, "log": "echo: line 2"} in as_json
    assert "echo: line 1" in runyard.json("run", "logs", deployed.app_id, run_id)["log"]
    assert "echo: line 1" in runyard.ok("run", "logs", deployed.app_id, run_id).stdout


def test_queue_and_cancel(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    run_id = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file), "--option", "sleep=30").stdout.strip()
    queued = runyard.json("queue")
    assert run_id in [r["id"] for r in queued["runs"]]
    assert run_id in runyard.ok("queue").stdout

    assert runyard.json("run", "cancel", deployed.app_id, run_id) == {"run_id": run_id, "status": "canceling"}
    ended = runyard("run", "result", deployed.app_id, run_id, "--wait", "--timeout", "60", "-o", "json")
    assert ended.exit_code == 1 and json.loads(ended.stdout)["metadata"]["status_v2"] == "canceled"
    wait_for(lambda: run_id not in [r["id"] for r in runyard.json("queue")["runs"]], "the queue to empty")


def test_track_records_an_external_run(runyard: Cli, deployed: Deployed, input_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "output.json"
    output.write_text(json.dumps({"solution": {"routes": 2}, "statistics": {"result": {"value": 7}}}))
    logs = tmp_path / "logs.txt"
    logs.write_text("solver started\nsolver done\n")
    run_id = runyard.json("track", deployed.app_id, "--input", str(input_file), "--output-file", str(output),
                          "--status", "succeeded", "--duration", "1500", "--logs", str(logs))["run_id"]
    result = runyard.json("run", "result", deployed.app_id, run_id, "--wait")
    assert result["metadata"]["status_v2"] == "succeeded" and result["output"]["solution"] == {"routes": 2}
    assert "solver done" in runyard.json("run", "logs", deployed.app_id, run_id)["log"]


def test_list_filters_on_the_server(runyard: Cli, live_server, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    """``run list`` sends its filters to the server: status (several, comma-separated), instance, version,
    a time window as ISO 8601 or an age; without an application id it lists the whole account."""
    from runyard import cloud

    with live_server.client() as client:
        app = cloud.Application(client=client, id=deployed.app_id)
        made = {}
        for status in ("succeeded", "failed", "failed", "succeeded"):
            tracked = cloud.TrackedRun(input={"x": 1}, output={"y": 2}, status=cloud.TrackedRunStatus(status),
                                       error="boom" if status == "failed" else None)
            made[app.track_run(tracked, instance_id=deployed.instance_id)] = status
    newest_first = list(made)[::-1]
    assert [r["id"] for r in runyard.json("run", "list", deployed.app_id)] == newest_first
    failed = [r["id"] for r in runyard.json("run", "list", deployed.app_id, "--status", "failed")]
    assert failed == [i for i in newest_first if made[i] == "failed"]
    assert [r["id"] for r in runyard.json("run", "list", deployed.app_id, "--status", "failed,succeeded", "--limit", "3")] \
        == newest_first[:3]
    assert len(runyard.json("run", "list", deployed.app_id, "--instance", deployed.instance_id, "--since", "1h")) == 4
    assert runyard.json("run", "list", deployed.app_id, "--instance", "other") == []
    assert runyard.json("run", "list", deployed.app_id, "--until", "2000-01-01") == []
    assert len(runyard.json("run", "list", deployed.app_id, "--since", "2000-01-01T00:00:00Z")) == 4
    assert runyard.json("run", "list", deployed.app_id, "--version", "v-none") == []
    everywhere = runyard.json("run", "list", "--status", "failed")
    assert [r["id"] for r in everywhere] == failed and {r["application_id"] for r in everywhere} == {deployed.app_id}
    table = runyard.ok("run", "list", "--limit", "2").stdout
    assert "application" in table and deployed.app_id in table
    assert "'yesterday'" in runyard.fails("run", "list", deployed.app_id, "--since", "yesterday")
    assert "'done'" in runyard.fails("run", "list", deployed.app_id, "--status", "done")

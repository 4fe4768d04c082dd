"""A server killed with SIGKILL mid-run and started again on the same data: nothing is lost or left running."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runyard.execution.runtime.orphans import remove_run_dirs, run_dir_owners
from runyard.execution.runtime.sandbox import descendants

from .apps import steps
from .conftest import (
    CLASS,
    TERMINAL,
    list_run_ids,
    metadata,
    new_tool_app,
    process_alive,
    result,
    run_log,
    submit,
    wait_for,
    wait_status,
)

ONE_SLOT = json.dumps({CLASS: {"concurrency": 1, "max_duration_seconds": 300}})


@pytest.mark.parametrize("lost_runs", ["fail", "requeue"])
def test_sigkill_and_restart(server_process, gates: Path, reap_pids: list[int], lost_runs: str) -> None:  # type: ignore[no-untyped-def]
    server = server_process(RUNYARD_EXECUTION__CLASSES=ONE_SLOT, RUNYARD_EXECUTION__DEFAULT_CLASS=CLASS,
                            RUNYARD_EXECUTION__LOST_RUNS=lost_runs)
    api = server.api()
    app = new_tool_app(api, "restart")
    done_input = steps({"log": "quick"})
    done = submit(api, app, done_input)
    assert wait_status(api, app, done)["status_v2"] == "succeeded"
    done_output = result(api, app, done)["output"]

    gate = gates / "gate"
    block_input = steps({"spawn": ["sleep", "1000"]}, {"wait_file": str(gate)}, {"log": "passed the gate"})
    blocked = submit(api, app, block_input)
    queued_inputs = [steps({"log": f"queued {i}"}) for i in range(2)]
    queued = [submit(api, app, run_input) for run_input in queued_inputs]
    wait_status(api, app, blocked, {"running"})
    wait_for(lambda: re.search(r"grandchild pid (\d+)", run_log(api, app, blocked)), timeout=120,
             what="the blocked run's grandchild")
    # The run's processes, as the kernel sees them: the sandbox and everything below it.
    run_processes = descendants(server.process.pid)
    assert len(run_processes) >= 4, "bwrap, its init, the app and its grandchild"
    reap_pids.extend(run_processes)
    assert [metadata(api, app, r)["status_v2"] for r in queued] == ["queued", "queued"]
    work = server.data_dir / "work"
    # The running run's directory (named after it, or after the earlier run whose kept workspace and
    # sandbox started ahead it took): every directory there now is stale once the server is gone.
    old_dirs = [d for d in work.iterdir() if d.name != "inputs"]
    assert old_dirs and any(d.is_dir() for d in old_dirs), "the running run has a directory under the work root"

    server.kill()
    # The sandbox dies with the server that started it, and its PID namespace with it: nothing of the
    # run is left, whatever it did to its session or environment.
    wait_for(lambda: not any(process_alive(pid) for pid in run_processes), timeout=1.0,
             what="every process of the run to end with the server", interval=0.01)

    server.start()  # returns once /healthz answers: recovery has run by then
    assert not any(d.exists() for d in old_dirs), "the lost attempt's directory is removed"
    gate.touch()

    metas = {run_id: wait_status(api, app, run_id) for run_id in list_run_ids(api, app)}
    assert all(m["status_v2"] in TERMINAL for m in metas.values())
    assert [metas[r]["status_v2"] for r in queued] == ["succeeded", "succeeded"]
    if lost_runs == "fail":
        assert metas[blocked]["status_v2"] == "failed"
        assert "lost" in metas[blocked]["error"]
        assert "lost" in result(api, app, blocked)["error_log"]["error"]
    else:
        assert metas[blocked]["status_v2"] == "succeeded", run_log(api, app, blocked)
        assert "queued again" in run_log(api, app, blocked)
        assert "passed the gate" in run_log(api, app, blocked)
    # Inputs and finished outputs survived the kill.
    for run_id, run_input in [(done, done_input), (blocked, block_input), *zip(queued, queued_inputs, strict=True)]:
        assert api.get(f"/v1/applications/{app}/runs/{run_id}/input").json() == run_input
    assert result(api, app, done)["output"] == done_output
    assert metas[done]["status_v2"] == "succeeded"
    # What stays are kept workspaces (laid out again for the next run of the app): at most one per
    # runner thread, each named after an ended run and holding nothing but the app's copy.
    wait_for(lambda: _only_kept_workspaces(work, set(metas)), timeout=10, what="the work root to hold only kept workspaces")


def _only_kept_workspaces(work: Path, ended: set[str]) -> bool:
    entries = list(work.iterdir())
    return len(entries) <= 2 and all(
        e.is_dir() and run_dir_owners(work) <= ended
        and [p.name for p in e.iterdir()] == ["ws"] and [p.name for p in (e / "ws").iterdir()] == ["app"]
        and sorted(p.name for p in (e / "ws" / "app").iterdir()) == ["app.yaml", "main.py"]
        for e in entries
    )


def test_stale_run_dirs_are_removed_and_nothing_else(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "inputs").mkdir(parents=True)
    stale = [work / "run-aaaaaaaaaaaa-k3_x9zq1", work / "inputs" / "run-aaaaaaaaaaaa"]
    kept = [work / "run-bbbbbbbbbbbb-0123abcd", work / "inputs" / "run-bbbbbbbbbbbb", work / "notes.txt",
            work / "run-aaaaaaaaaaaa", work / "cache"]
    stale[0].mkdir()
    (stale[0] / "ws").mkdir()
    stale[1].write_text("input")
    kept[0].mkdir()
    kept[1].write_text("input")
    kept[2].write_text("someone else's file")
    kept[3].write_text("not a run dir: no random suffix")
    kept[4].mkdir()

    assert run_dir_owners(work) == {"run-aaaaaaaaaaaa", "run-bbbbbbbbbbbb"}
    assert sorted(remove_run_dirs(work, ["run-aaaaaaaaaaaa"])) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)

"""The queue: priority order within a class, 429 when queuing is disabled, cancel before and during a run."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .apps import steps
from .conftest import (
    initiated_at,
    list_run_ids,
    metadata,
    new_tool_app,
    run_log,
    sandbox_processes,
    submit,
    wait_for,
    wait_status,
)


def _blocker(api, app: str, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    """A run that holds the class's only slot until canceled (it waits for a file nobody creates)."""
    run_id = submit(api, app, steps({"log": "blocking"}, {"wait_file": str(tmp_path / "never")}))
    wait_status(api, app, run_id, {"running"})
    wait_for(lambda: "blocking" in run_log(api, app, run_id), timeout=120, what="the blocker's process")
    return run_id


def _cancel(api, app: str, run_id: str) -> None:  # type: ignore[no-untyped-def]
    response = api.patch(f"/v1/applications/{app}/runs/{run_id}/cancel")
    assert response.status_code == 200, response.text


def test_priority_one_starts_before_every_earlier_priority_nine(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server(concurrency=1)
    app = new_tool_app(api, "prio")
    blocker = _blocker(api, app, tmp_path)
    low = [submit(api, app, steps(), configuration={"queuing": {"priority": 9}}) for _ in range(9)]
    high = submit(api, app, steps(), configuration={"queuing": {"priority": 1}})
    assert metadata(api, app, high)["status_v2"] == "queued"

    _cancel(api, app, blocker)
    assert wait_status(api, app, blocker)["status_v2"] == "canceled"
    metas = {run_id: wait_status(api, app, run_id) for run_id in [high, *low]}
    assert all(m["status_v2"] == "succeeded" for m in metas.values())
    assert metas[high]["queuing_priority"] == 1 and metas[low[0]]["queuing_priority"] == 9
    started = sorted(metas, key=lambda run_id: initiated_at(metas[run_id]))
    # Priority first, then submission order within a priority.
    assert started == [high, *low]


def test_queuing_disabled_without_capacity_is_429_and_stores_nothing(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server(concurrency=1)
    app = new_tool_app(api, "no-queue")
    blocker = _blocker(api, app, tmp_path)
    before = list_run_ids(api, app)
    run_blobs = tmp_path / "data" / "blobs" / "runs"
    blobs_before = sorted(run_blobs.iterdir())

    response = api.post(f"/v1/applications/{app}/runs",
                        json={"input": steps(), "configuration": {"queuing": {"disabled": True}}})
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert "queuing is disabled" in response.json()["error"]
    assert list_run_ids(api, app) == before
    assert sorted(run_blobs.iterdir()) == blobs_before  # not even the input was kept

    _cancel(api, app, blocker)
    wait_status(api, app, blocker)
    # With the slot free, the same request is accepted and runs.
    ok = submit(api, app, steps(), configuration={"queuing": {"disabled": True}})
    meta = wait_status(api, app, ok)
    assert meta["status_v2"] == "succeeded" and meta["queuing_disabled"] is True


def test_a_canceled_queued_run_never_starts(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server(concurrency=1)
    app = new_tool_app(api, "cancel-queued")
    blocker = _blocker(api, app, tmp_path)
    queued = submit(api, app, steps({"log": "should never run"}))
    after = submit(api, app, steps())

    _cancel(api, app, queued)
    meta = metadata(api, app, queued)
    assert meta["status_v2"] == "canceled" and "initiated_at" not in meta
    _cancel(api, app, blocker)
    # The run submitted after it executes, so the dispatcher has gone past the canceled one.
    assert wait_status(api, app, after)["status_v2"] == "succeeded"
    meta = metadata(api, app, queued)
    assert meta["status_v2"] == "canceled" and "initiated_at" not in meta
    assert run_log(api, app, queued) == ""
    assert api.patch(f"/v1/applications/{app}/runs/{queued}/cancel").status_code == 409


def _pids(api, app: str, run_id: str, *labels: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The pids the app logged as ``<label> pid N``, once all of them are in the log."""
    def found() -> list[int] | None:
        log = run_log(api, app, run_id)
        matches = [re.search(rf"{label} pid (\d+)", log) for label in labels]
        return [int(m.group(1)) for m in matches] if all(matches) else None  # type: ignore[union-attr]

    return wait_for(found, timeout=120, what=f"{', '.join(labels)} pids in the log of {run_id}")


def test_cancel_kills_the_whole_process_tree_and_keeps_the_log(start_server, reap_pids: list[int]) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "cancel-running")
    run_id = submit(api, app, steps({"log": "working"}, {"spawn": ["sleep", "1000"]},
                                    {"spawn_detached": ["sleep", "1000"]}, {"sleep": 1000}))
    wait_status(api, app, run_id, {"running"})
    _pids(api, app, run_id, "grandchild", "detached")
    pids = sandbox_processes()
    reap_pids.extend(pids)
    assert len(pids) >= 3, "the app, its grandchild and the detached one"

    canceled_at = time.monotonic()
    _cancel(api, app, run_id)
    wait_for(lambda: not sandbox_processes(), timeout=5, what=f"{pids} to die", interval=0.01)
    assert time.monotonic() - canceled_at < 1.0
    meta = wait_status(api, app, run_id, timeout=30)
    assert meta["status_v2"] == "canceled"
    assert meta["error"] == "run was canceled"
    assert "working" in run_log(api, app, run_id)


def test_a_detached_descendant_does_not_outlive_its_run(start_server, reap_pids: list[int]) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "daemon")
    run_id = submit(api, app, steps({"spawn_detached": ["sleep", "1000"]}))
    assert wait_status(api, app, run_id)["status_v2"] == "succeeded"
    _pids(api, app, run_id, "detached")
    # (bubblewrap reports the app's exit as it happens; the kernel empties its PID namespace just after)
    ended = time.monotonic()
    wait_for(lambda: not sandbox_processes(), timeout=5, what="nothing of the run to outlive it", interval=0.005)
    assert time.monotonic() - ended < 1.0, "nothing of the run outlives it"


def test_a_run_with_a_free_slot_is_running_when_its_submission_returns(gates, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server(concurrency=1)
    app = new_tool_app(api, "now")
    wait_status(api, app, submit(api, app, steps()))  # the environment is built
    dispatcher = api.client.app.state.runtime.dispatcher
    dispatcher.dispatch_once = lambda: 0  # the dispatcher thread starts nothing for now
    gate = gates / "gate"
    first = submit(api, app, steps({"wait_file": str(gate)}))
    assert metadata(api, app, first)["status_v2"] == "running", "started by its submission itself"
    second = submit(api, app, steps({"wait_file": str(gate)}))
    assert metadata(api, app, second)["status_v2"] == "queued", "no slot: it waits"
    del dispatcher.dispatch_once  # the thread's own again: it starts the second when the first ends
    gate.touch()
    assert [wait_status(api, app, r)["status_v2"] for r in (first, second)] == ["succeeded", "succeeded"]


def test_simultaneous_submissions_never_overfill_a_class(gates, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server(concurrency=2)
    app = new_tool_app(api, "fill")
    wait_status(api, app, submit(api, app, steps()))
    gate = gates / "gate"
    with ThreadPoolExecutor(8) as pool:
        run_ids = list(pool.map(lambda _: submit(api, app, steps({"wait_file": str(gate)})), range(8)))
    statuses = sorted(metadata(api, app, r)["status_v2"] for r in run_ids)
    assert statuses == ["queued"] * 6 + ["running"] * 2
    gate.touch()
    assert {wait_status(api, app, r)["status_v2"] for r in run_ids} == {"succeeded"}


def test_a_freed_slot_runs_the_next_queued_run_in_the_same_runner_thread(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The runner thread that frees a slot claims the next queued run and runs it itself, instead of
    handing it to another thread that would contend with it for the interpreter while it records its
    result; the dispatcher thread plays no part in it."""
    api = start_server(concurrency=1)
    app = new_tool_app(api, "chain")
    wait_status(api, app, submit(api, app, steps()))
    runtime = api.client.app.state.runtime
    threads: dict[str, str] = {}
    run_one = runtime.executor._run_one

    def recording(task):  # type: ignore[no-untyped-def]
        threads[task.run_id] = threading.current_thread().name
        return run_one(task)

    runtime.executor._run_one = recording
    runtime.dispatcher.dispatch_once = lambda: 0  # the dispatcher thread starts nothing
    blocker = _blocker(api, app, tmp_path)
    queued = [submit(api, app, steps()) for _ in range(3)]
    assert {metadata(api, app, r)["status_v2"] for r in queued} == {"queued"}
    _cancel(api, app, blocker)
    assert [wait_status(api, app, r)["status_v2"] for r in queued] == ["succeeded"] * 3
    assert len({threads[r] for r in [blocker, *queued]}) == 1, threads

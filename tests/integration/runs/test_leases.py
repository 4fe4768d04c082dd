"""Owners and leases: several servers on one database and one blob store, each executing its own runs.

A running run names the worker that executes it and a lease that worker renews; recovery touches only
runs whose lease expired (or the worker's own, from before it restarted); a cancel recorded through
any server reaches the worker that runs the run within a second; a graceful stop interrupts runs
without calling that a user's cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from integration.conftest import ADMIN_KEY, Api
from runyard.server.app import create_app
from runyard.settings import Settings
from runyard.storage.db import Run

from .apps import steps
from .conftest import execution_settings, new_tool_app, run_log, submit, wait_for, wait_status


@pytest.fixture
def servers(database_url: str, tmp_path: Path, app_env_dir: Path, gate_root: Path) -> Iterator[Callable[..., Api]]:
    """``servers(name, **execution)``: in-process servers sharing the database and the blob store,
    each with its own data folder (and so its own worker id)."""
    with ExitStack() as stack:
        def start(name: str, **execution: Any) -> Api:
            execution.setdefault("sandbox_ro_paths", [str(gate_root)])
            settings = Settings(data_dir=tmp_path / name, database_url=database_url, api_key=ADMIN_KEY,
                                blob_url=f"file://{tmp_path / 'blobs'}", executor="embedded",
                                execution=execution_settings(execution.pop("env_dir", None) or app_env_dir, **execution))
            client = TestClient(create_app(settings))
            stack.enter_context(client)
            return Api(client)

        yield start


def _row(api: Api, run_id: str) -> Run:
    with api.client.app.state.platform.db.session() as s:
        row = s.get(Run, run_id)
        assert row is not None
        s.expunge(row)
        return row


def test_a_running_run_names_its_worker_and_a_lease_that_is_renewed(servers, gates: Path) -> None:  # type: ignore[no-untyped-def]
    a = servers("a", lease_seconds=1.5)
    app = new_tool_app(a, "leased")
    gate = gates / "gate"
    run_id = submit(a, app, steps({"log": "holding"}, {"wait_file": str(gate)}))
    wait_for(lambda: "holding" in run_log(a, app, run_id), timeout=120, what="the run to hold")
    worker = a.client.app.state.runtime.dispatcher.worker
    first = _row(a, run_id)
    assert first.owner == worker and first.lease_expires_at is not None
    wait_for(lambda: _row(a, run_id).lease_expires_at > first.lease_expires_at, timeout=5, what="a renewal")
    gate.touch()
    assert wait_status(a, app, run_id)["status_v2"] == "succeeded"


def test_a_cancel_through_another_server_reaches_the_worker_within_a_second(servers) -> None:  # type: ignore[no-untyped-def]
    a = servers("a")
    b = servers("b", classes={"c1": {"concurrency": 0, "max_duration_seconds": 300}})  # B executes nothing
    app = new_tool_app(a, "far")
    run_id = submit(a, app, steps({"log": "working"}, {"sleep": 1000}))
    wait_for(lambda: "working" in run_log(a, app, run_id), timeout=120, what="the run on A")
    assert _row(b, run_id).owner == a.client.app.state.runtime.dispatcher.worker
    asked = time.monotonic()
    assert b.patch(f"/v1/applications/{app}/runs/{run_id}/cancel").status_code == 200
    meta = wait_status(b, app, run_id, timeout=10)
    assert meta["status_v2"] == "canceled"
    assert time.monotonic() - asked < 1.5  # within a second of reaching A, plus recording it


@pytest.mark.parametrize("lost_runs", ["fail", "requeue"])
def test_only_expired_leases_are_recovered(servers, lost_runs: str) -> None:  # type: ignore[no-untyped-def]
    a = servers("a", lease_seconds=1.5, lost_runs=lost_runs)
    app = new_tool_app(a, "orphaned")
    # Two runs "running" on workers that are not here: one still renewing (lease ahead), one gone.
    alive, gone = (submit(a, app, steps({"log": name})) for name in ("alive", "gone"))
    for run_id in (alive, gone):
        wait_status(a, app, run_id)
    now = datetime.now(UTC)
    with a.client.app.state.platform.db.engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == alive).values(status="running", owner="worker-elsewhere",
                                                               lease_expires_at=now + timedelta(hours=1)))
        conn.execute(update(Run).where(Run.id == gone).values(status="running", owner="worker-lost",
                                                              lease_expires_at=now - timedelta(seconds=1)))
    resolved = wait_status(a, app, gone, {"failed"} if lost_runs == "fail" else {"succeeded"}, timeout=30)
    if lost_runs == "fail":
        assert "worker node lost" in resolved["error"]
    else:
        assert "queued again" in run_log(a, app, gone)
    time.sleep(1.0)  # a few more rounds of upkeep: the renewed one is never touched
    untouched = _row(a, alive)
    assert untouched.status == "running" and untouched.owner == "worker-elsewhere"


@pytest.mark.parametrize("lost_runs", ["fail", "requeue"])
def test_a_graceful_stop_interrupts_runs_without_calling_it_a_cancel(servers, tmp_path: Path, lost_runs: str) -> None:  # type: ignore[no-untyped-def]
    a = servers("a", lost_runs=lost_runs)
    app = new_tool_app(a, "stopped")
    run_id = submit(a, app, steps({"log": "working"}, {"sleep": 1000}))
    wait_for(lambda: "working" in run_log(a, app, run_id), timeout=120, what="the run")
    a.client.__exit__(None, None, None)  # the server's lifespan ends: a graceful stop
    row = _row(a, run_id)
    if lost_runs == "fail":
        assert row.status == "failed" and "server was stopped" in row.error
    else:
        assert row.status == "queued" and row.owner is None
        b = servers("b", lost_runs=lost_runs)  # the next server runs it again
        meta = wait_status(b, app, run_id, {"running"})
        assert meta["status_v2"] == "running"
        assert "queued again" in run_log(b, app, run_id)
        assert b.patch(f"/v1/applications/{app}/runs/{run_id}/cancel").status_code == 200
        assert wait_status(b, app, run_id)["status_v2"] == "canceled"


def test_a_report_from_a_worker_that_no_longer_owns_the_run_does_not_end_it(servers) -> None:  # type: ignore[no-untyped-def]
    from runyard.execution.contract import RunReport
    from runyard.services.runs.results import finish_run

    a = servers("a")
    app = new_tool_app(a, "stale")
    run_id = submit(a, app, steps({"log": "x"}))
    wait_status(a, app, run_id)
    with a.client.app.state.platform.db.engine.begin() as conn:  # taken over by another worker meanwhile
        conn.execute(update(Run).where(Run.id == run_id).values(status="running", owner="worker-new",
                                                                lease_expires_at=datetime.now(UTC) + timedelta(hours=1)))
    platform = a.client.app.state.platform
    assert finish_run(platform, run_id, RunReport(exit_code=0), owner="worker-old") is None
    assert _row(a, run_id).status == "running"
    assert finish_run(platform, run_id, RunReport(exit_code=0), owner="worker-new") is not None
    assert _row(a, run_id).status == "succeeded"

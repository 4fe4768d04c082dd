"""Limits a run cannot escape: the execution class's wall clock and the output size cap."""

from __future__ import annotations

import time
from pathlib import Path

from .apps import steps
from .conftest import metadata, new_tool_app, result, run_log, submit, wait_status


def test_deadline_kills_the_run_and_keeps_its_log(start_server) -> None:  # type: ignore[no-untyped-def]
    api = start_server(max_duration=1)
    app = new_tool_app(api, "deadline")
    # Warm the environment first, so the one-second limit measures the app and not a uv build.
    assert wait_status(api, app, submit(api, app, steps()))["status_v2"] == "succeeded"

    started = time.monotonic()
    run_id = submit(api, app, steps({"log": "about to sleep"}, {"sleep": 60}, {"log": "woke up"}))
    meta = wait_status(api, app, run_id, timeout=30)
    elapsed = time.monotonic() - started

    assert meta["status_v2"] == "failed"
    assert "maximum duration" in meta["error"]
    assert elapsed < 30  # the app asked for 60 s; wait_status itself bounds this at 30 s
    log = run_log(api, app, run_id)
    assert "about to sleep" in log and "woke up" not in log
    assert result(api, app, run_id)["error_log"]["error"] == meta["error"]


def test_output_flood_is_cut_and_the_server_keeps_answering(start_server) -> None:  # type: ignore[no-untyped-def]
    limit = 1024 * 1024
    api = start_server(limits={"output_max_bytes": limit})
    app = new_tool_app(api, "flood")
    run_id = submit(api, app, steps({"log": "flooding"}, {"flood": 50 * 1024 * 1024}, {"log": "done flooding"}))
    meta = wait_status(api, app, run_id)

    assert meta["status_v2"] == "failed"
    assert "output exceeded the size limit" in meta["error"]
    assert meta["output_size"] <= limit  # the oversized stdout is not kept as the run's output
    assert "flooding" in run_log(api, app, run_id)
    body = result(api, app, run_id)
    assert body["output"] is None
    assert len(body["error_log"]["stdout"]) <= 4096
    # The server still serves requests and runs.
    assert api.get("/healthz").status_code == 200
    assert wait_status(api, app, submit(api, app, steps()))["status_v2"] == "succeeded"
    assert metadata(api, app, run_id)["status_v2"] == "failed"


def test_an_app_cannot_make_a_server_file_its_output(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The app replaces the file its stdout goes to with a symlink to a file of the server's: the run's
    output is never that file."""
    api = start_server()
    app = new_tool_app(api, "swap")
    server_file = tmp_path / "server-only.json"
    server_file.write_text('{"solution": "a server file"}')
    run_id = submit(api, app, steps({"swap_stdout": str(server_file)}))
    assert wait_status(api, app, run_id)["status_v2"] in ("succeeded", "failed")
    answer = api.get(f"/v1/applications/{app}/runs/{run_id}")
    assert answer.status_code == 200
    assert "a server file" not in answer.text
    assert server_file.read_text() == '{"solution": "a server file"}'
    log = run_log(api, app, run_id)
    # In a sandbox the app cannot even reach its stdout file (it lives outside the workspace); without
    # one, the runtime notices the swap.
    assert "replaced its stdout file" in log or "Permission denied" in log, log

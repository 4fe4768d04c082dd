"""Sandboxes started ahead: once a run's workspace is kept, the next run of the same app gets a sandbox
that was started before it was submitted, and sees exactly what a freshly started one would show it.

When a run was started is read from inside it: ``/proc/1`` of a run is its sandbox's init, whose start
time (in clock ticks since boot) says whether the sandbox existed before the run was submitted.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runyard.execution.runtime.sandbox import descendants

from .conftest import (
    CLASS,
    SANDBOX_UID,
    WAITING_INTERPRETER,
    new_tool_app,
    result,
    run_log,
    submit,
    wait_for,
    wait_status,
)
from .test_sandbox import PROBE_APP, _etc_copy_of


def _ticks_now() -> int:
    """The clock-tick count since boot that a process started now would show (field 22 of /proc/PID/stat)."""
    return int(float(Path("/proc/uptime").read_text().split()[0]) * os.sysconf("SC_CLK_TCK"))


def _init_started(stat: str) -> int:
    return int(stat.rsplit(")", 1)[1].split()[19])


def _waiting_sandboxes(under: Path) -> Callable[[], list[int]]:
    """A check: this process's descendants that are a sandbox waiting for its run (its launcher, ``limit-exec
    -S``, or a Python app's interpreter) in a workspace under ``under`` (this test's server: others' may
    still wait elsewhere)."""
    def found() -> list[int]:
        pids = []
        for pid in descendants(os.getpid()):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                inside = os.readlink(f"/proc/{pid}/cwd").startswith(str(under))
            except OSError:
                continue
            launcher = b"-S" in argv and Path(os.fsdecode(argv[0])).name.startswith("limit-exec")
            if inside and (launcher or name == WAITING_INTERPRETER):
                pids.append(pid)
        return pids

    return found


def _run(api: Any, app: str, doc: dict, **configuration: Any) -> dict:
    run_id = submit(api, app, doc, configuration=configuration or None)
    meta = wait_status(api, app, run_id)
    assert meta["status_v2"] == "succeeded", run_log(api, app, run_id)
    return result(api, app, run_id)["output"]["solution"]


@pytest.mark.parametrize("prestart", [True, False], ids=["prestarted", "off"])
def test_the_next_run_of_an_app_takes_a_sandbox_started_ahead(start_server, tmp_path: Path, prestart: bool) -> None:  # type: ignore[no-untyped-def]
    api = start_server(prestart_sandboxes=prestart)
    app = new_tool_app(api, "warm-" + uuid.uuid4().hex[:6], PROBE_APP)
    first = _run(api, app, {"write": ["/tmp/left-by-the-first", "left.txt"], "show": ["/proc/self/environ"]})
    assert first["write"] == {"/tmp/left-by-the-first": "WROTE", "left.txt": "WROTE"}
    if prestart:
        wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead for the next run")
    else:
        time.sleep(0.5)
        assert not _waiting_sandboxes(tmp_path)()
    time.sleep(0.1)  # ten clock ticks: a sandbox started before this line shows an earlier tick
    submitted = _ticks_now()
    secret = "s-" + uuid.uuid4().hex
    body = {"id": "vault", "name": "vault", "secrets": [{"type": "env", "location": "SECOND_TOKEN", "value": secret}]}
    assert api.post(f"/v1/applications/{app}/secrets", json=body).status_code == 200
    second = _run(api, app, {"list": ["/tmp", "."], "show": ["/proc/1/stat", "/proc/self/environ"],
                              "read": ["/proc/1/environ"]},
                  secrets_collection_id="vault")
    started = _init_started(second["show"]["/proc/1/stat"])
    if prestart:
        assert started < submitted, "the second run's sandbox was started before it was submitted"
    else:
        assert started >= submitted
    # What the run sees is its own, as in a fresh sandbox: the sandbox uid, its workspace as its folder
    # (without what the first run left), a /tmp of its own, the same root, and its own variables.
    assert second["uid"] == SANDBOX_UID
    assert "left-by-the-first" not in second["list"]["/tmp"] and "left.txt" not in second["list"]["."] and "main.py" in second["list"]["."]
    assert second["root"] == first["root"]
    assert second["env"]["SECOND_TOKEN"] == secret and second["env"]["NEXTMV_RUN_ID"] != first["env"]["NEXTMV_RUN_ID"]
    assert "SECOND_TOKEN" not in first["env"]
    per_run = ("SECOND_TOKEN", "NEXTMV_RUN_ID", "RUNYARD_EXECUTION_ID", "HOME", "TMPDIR")  # HOME: the workspace
    assert {k: v for k, v in second["env"].items() if k not in per_run} == {k: v for k, v in first["env"].items() if k not in per_run}
    assert second["env"]["HOME"] == second["env"]["TMPDIR"] == os.path.dirname(second["cwd"])
    # The environment it started with holds no run's own variables (a Python app's interpreter started
    # ahead gets its run's when the run comes).
    assert "SECOND_TOKEN" not in first["show"]["/proc/self/environ"]
    assert not str(second["read"]["/proc/1/environ"]).startswith("READ"), "the sandbox's init is not the app's to read"
    assert second["cwd_write"] == "WROTE"


def test_a_run_whose_sandbox_differs_starts_its_own(start_server, tmp_path: Path, listening_port: int) -> None:  # type: ignore[no-untyped-def]
    """A sandbox started ahead serves only a run whose sandbox would be the same: here the next run's
    class turns the network off, so it must not get the waiting sandbox, which has it on."""
    classes = {CLASS: {"concurrency": 1, "max_duration_seconds": 120},
               "offline": {"concurrency": 1, "max_duration_seconds": 120, "network": False}}
    api = start_server(classes=classes)
    app = new_tool_app(api, "warm-net", PROBE_APP)
    assert _run(api, app, {"connect": ["127.0.0.1", listening_port]})["connect"] == "CONNECTED"
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead for the next run")
    time.sleep(0.1)
    submitted = _ticks_now()
    offline = _run(api, app, {"connect": ["127.0.0.1", listening_port], "show": ["/proc/1/stat"]}, execution_class="offline")
    assert offline["connect"] != "CONNECTED"
    assert _init_started(offline["show"]["/proc/1/stat"]) >= submitted, "it started its own sandbox"
    # The one started for the offline run's workspace has the network off: the next online run
    # must not take it either.
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead after the offline run")
    assert _run(api, app, {"connect": ["127.0.0.1", listening_port]})["connect"] == "CONNECTED"


def test_every_next_run_finds_its_sandbox_started_ahead(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The init bubblewrap leaves behind at the end of a run (exiting, or a zombie of whoever adopts
    it) is not a surviving process of the run: the run's workspace is kept, and the next run gets a
    sandbox started ahead, every time (it was not, for 34 of 77 runs)."""
    api = start_server()
    app = new_tool_app(api, "warm-each", PROBE_APP)
    _run(api, app, {})
    for _ in range(6):
        wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead for the next run")
        time.sleep(0.05)
        submitted = _ticks_now()
        shown = _run(api, app, {"show": ["/proc/1/stat"]})["show"]["/proc/1/stat"]
        assert _init_started(shown) <= submitted


def test_a_waiting_sandbox_follows_a_change_of_etc(start_server, tmp_path: Path, app_env_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """A sandbox waiting with an /etc copy the host has since changed is let go and started again with
    the new copy, without a run coming: the next run sees the change, and the old copy goes."""
    licence = tmp_path / "licence.conf"
    licence.write_text("v1")
    licence.chmod(0o644)
    api = start_server(sandbox_etc_paths=[str(licence)])
    app = new_tool_app(api, "warm-etc", PROBE_APP)
    first = _run(api, app, {"show": ["/etc/licence.conf", "/proc/self/mountinfo"]})["show"]
    assert first["/etc/licence.conf"] == "v1"
    copy = app_env_dir / ".etc" / _etc_copy_of(first["/proc/self/mountinfo"])
    waiting = wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    time.sleep(2.5)  # past the copy's check interval: the waiting sandbox alone holds the copy now
    assert copy.is_dir()
    licence.write_text("v2")
    wait_for(lambda: (now := _waiting_sandboxes(tmp_path)()) and not set(now) & set(waiting), timeout=30,
             what="the waiting sandbox to be started again with the new copy")
    wait_for(lambda: not copy.exists(), timeout=30, what="the superseded copy to be deleted, with no run coming")
    time.sleep(0.1)
    submitted = _ticks_now()
    seen = _run(api, app, {"show": ["/etc/licence.conf", "/proc/1/stat"]})["show"]
    assert seen["/etc/licence.conf"] == "v2" and _init_started(seen["/proc/1/stat"]) < submitted

"""Python interpreters started ahead: a Python app's sandbox started ahead starts its interpreter too, and
the next run's script runs in it exactly as ``python main.py`` would run it.

Whether a run's process was started before the run was submitted is read from inside it: the start time
of ``/proc/self`` (in clock ticks since boot). Everything else the app reports is compared with what the
same app reports when its interpreter starts with the run (the setting off).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from .conftest import new_tool_app, result, run_log, wait_for, wait_status
from .test_prestarted_sandbox import _ticks_now, _waiting_sandboxes

INTERPRETER_MAIN = r'''"""A probe of how it was started."""
import sys

# What only an interpreter that waited for its run has imported (its socket): how the test tells.
waited = "_socket" in sys.modules
import json, os, subprocess

doc = json.load(sys.stdin)
main = sys.modules["__main__"]
seen = {
    "waited": waited, "argv": sys.argv, "orig_argv": sys.orig_argv, "path0": sys.path[0], "file": __file__, "name": __name__,
    "doc": __doc__, "package": __package__, "spec": repr(__spec__), "cached": __cached__,
    "loader": type(__loader__).__name__, "loader_path": getattr(__loader__, "path", None),
    "main_is_this": main.__dict__ is globals(), "main_names": sorted(vars(main)),
    "executable": sys.executable, "flags": list(sys.flags), "hash_randomization": sys.flags.hash_randomization, "cwd": os.getcwd(), "comm": open("/proc/self/comm").read().strip(),
    "started": int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]),
    "env": dict(os.environ), "stdin": doc,
    "child_sees": subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('TOKEN', '-'))"],
                                 capture_output=True, text=True).stdout.strip(),
    "stdio": [sys.stdin.encoding, sys.stdout.encoding, sys.stdout.line_buffering, sys.stdout.write_through],
    "open_fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
}
print("to stderr", file=sys.stderr)
if doc.get("fail"):
    raise ValueError("failing on purpose")
if doc.get("interrupt"):
    import atexit
    atexit.register(lambda: print("the script's exit function ran", file=sys.stderr, flush=True))
    raise KeyboardInterrupt
print(json.dumps({"solution": seen}))
sys.exit(doc.get("exit", 0))
'''
INTERPRETER_APP = {"app.yaml": "type: python\nfiles: [main.py]\n", "main.py": INTERPRETER_MAIN}
PER_RUN = {"NEXTMV_RUN_ID", "RUNYARD_EXECUTION_ID", "HOME", "TMPDIR"}  # HOME, TMPDIR: the run's workspace


def _submit(api: Any, app: str, doc: dict, **extra: Any) -> str:
    response = api.post(f"/v1/applications/{app}/runs", json={"input": doc, **extra})
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def _secrets(api: Any, app: str, collection: str, env: dict[str, str]) -> None:
    body = {"id": collection, "name": collection,
            "secrets": [{"type": "env", "location": k, "value": v} for k, v in env.items()]}
    assert api.post(f"/v1/applications/{app}/secrets", json=body).status_code == 200


def _seen(api: Any, app: str, run_id: str) -> dict:
    meta = wait_status(api, app, run_id)
    assert meta["status_v2"] == "succeeded", run_log(api, app, run_id)
    return result(api, app, run_id)["output"]["solution"]


def _comparable(seen: dict, workspace: str, app: str) -> dict:
    """What must be the same however the interpreter was started: the run's workspace path written as
    WS and its app's id as APP, per-run variables and the process's start time left out."""
    text = repr({k: v for k, v in seen.items() if k not in ("started", "waited")}).replace(workspace, "WS").replace(app, "APP")
    out = eval(text)  # noqa: S307 - our own repr of plain values
    out["env"] = {k: v for k, v in out["env"].items() if k not in PER_RUN}
    return out


def _probe(start_server: Any, tmp_path: Path, interpreters: bool, token: str) -> dict[str, Any]:
    """Two runs of the probe on one server (the second with options and secrets), and a failing one."""
    api = start_server(prestart_interpreters=interpreters, data=f"data-{interpreters}")
    app = new_tool_app(api, "interp-" + uuid.uuid4().hex[:6], INTERPRETER_APP)
    first = _seen(api, app, _submit(api, app, {"n": 1}))
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    time.sleep(0.1)  # ten clock ticks: a process started before this line shows an earlier tick
    submitted = _ticks_now()
    _secrets(api, app, "vault", {"TOKEN": token})
    second_id = _submit(api, app, {"n": 2}, options={"duration": "5", "flag": "on"},
                        configuration={"secrets_collection_id": "vault"})
    second = _seen(api, app, second_id)
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    failing = _submit(api, app, {"fail": True})
    failed = wait_status(api, app, failing)
    exiting = _submit(api, app, {"exit": 3})
    exited = wait_status(api, app, exiting)
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    interrupting = _submit(api, app, {"interrupt": True})
    interrupted = wait_status(api, app, interrupting)
    api.stop()
    return {"app": app, "first": first, "second": second, "submitted": submitted,
            "failed": failed, "failed_log": run_log(api, app, failing), "exited": exited,
            "interrupted": interrupted, "interrupted_log": run_log(api, app, interrupting)}


def test_a_script_runs_in_an_interpreter_started_ahead_as_python_would_run_it(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = "t-" + uuid.uuid4().hex
    ahead = _probe(start_server, tmp_path / "data-True", True, token)
    fresh = _probe(start_server, tmp_path / "data-False", False, token)
    second, cold = ahead["second"], fresh["second"]
    # Started ahead: the second run's interpreter existed before the run was submitted, and waited
    # for it; with the setting off, the sandbox's launcher waited and executed a fresh one.
    assert second["started"] < ahead["submitted"] and second["waited"]
    assert not cold["waited"] and not ahead["first"]["waited"]
    # Everything else the script sees is what a fresh `python main.py` shows it.
    assert _comparable(second, str(Path(second["cwd"]).parent), ahead["app"]) == \
        _comparable(cold, str(Path(cold["cwd"]).parent), fresh["app"])
    assert second["argv"][1:] == ["-duration", "5", "-flag", "on"] and second["orig_argv"][0] == second["executable"]
    assert second["path0"] == second["cwd"] and second["name"] == "__main__" and second["main_is_this"]
    assert second["comm"] == ahead["first"]["comm"] != "runyard-waiting"
    assert second["env"]["TOKEN"] == token and second["child_sees"] == token
    assert second["open_fds"] == [0, 1, 2, 3]  # the three, and the listing's own
    # A failure reads as the interpreter prints it: the traceback holds the script's frames only.
    for probe in (ahead, fresh):
        assert probe["failed"]["status_v2"] == "failed" and probe["exited"]["status_v2"] == "failed"
        assert "<string>" not in probe["failed_log"]
        assert "Traceback (most recent call last):" in probe["failed_log"]
        assert "ValueError: failing on purpose" in probe["failed_log"]
    assert ahead["exited"].get("error") == fresh["exited"].get("error")
    # Ended by an uncaught KeyboardInterrupt: the script's exit functions run, then SIGINT ends it.
    assert ahead["interrupted"]["status_v2"] == fresh["interrupted"]["status_v2"] == "failed"
    assert ahead["interrupted"].get("error") == fresh["interrupted"].get("error")
    for probe in (ahead, fresh):
        assert "the script's exit function ran" in probe["interrupted_log"] and "KeyboardInterrupt" in probe["interrupted_log"]
    tail = [line for line in ahead["failed_log"].splitlines() if "main.py" in line or "Error" in line]
    cold_tail = [line for line in fresh["failed_log"].splitlines() if "main.py" in line or "Error" in line]
    assert [line.split("/ws/")[-1] for line in tail] == [line.split("/ws/")[-1] for line in cold_tail]


def test_a_run_whose_environment_read_at_start_differs_gets_an_interpreter_of_its_own(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PYTHONHASHSEED is read as Python starts, LD_LIBRARY_PATH as the process does: the interpreter started
    ahead without them cannot serve a run that sets one. The run executes its own, and sees it take effect."""
    api = start_server()
    app = new_tool_app(api, "interp-env", INTERPRETER_APP)
    _seen(api, app, _submit(api, app, {}))
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    time.sleep(0.1)
    submitted = _ticks_now()
    _secrets(api, app, "seeded", {"PYTHONHASHSEED": "0"})
    seeded = _seen(api, app, _submit(api, app, {}, configuration={"secrets_collection_id": "seeded"}))
    assert not seeded["waited"], "it started an interpreter of its own"
    assert seeded["hash_randomization"] == 0
    # So is one that sets what the dynamic loader reads as a process starts (a solver's libraries).
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    _secrets(api, app, "solver", {"LD_LIBRARY_PATH": "/opt/solver/lib"})
    solver = _seen(api, app, _submit(api, app, {}, configuration={"secrets_collection_id": "solver"}))
    assert not solver["waited"] and solver["env"]["LD_LIBRARY_PATH"] == "/opt/solver/lib"
    # The next run without either is served by an interpreter started ahead again.
    wait_for(_waiting_sandboxes(tmp_path), timeout=30, what="a sandbox started ahead")
    time.sleep(0.1)
    submitted = _ticks_now()
    plain = _seen(api, app, _submit(api, app, {}))
    assert plain["started"] < submitted and plain["waited"]
    assert plain["hash_randomization"] == 1

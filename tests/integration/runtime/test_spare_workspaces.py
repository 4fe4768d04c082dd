"""Kept workspaces through execute() and cleanup(): a later run of the same executable gets the same
directories back, with nothing of the earlier run in them, and a fresh copy if the app changed its files."""

from __future__ import annotations

import json
from pathlib import Path

from runyard.execution.runtime.envs import EnvironmentBuilder
from runyard.execution.runtime.runner import cleanup, execute
from runyard.execution.runtime.spares import WorkspacePool
from runyard.execution.runtime.types import LocalReport, RunTask

from .conftest import FakeContext, make_bundle

# Reports what it finds, then leaves things behind in its cwd and HOME (and, asked to, edits its own code).
APP = """\
import json, os, sys
found = sorted(os.listdir(".")) + sorted("~/" + n for n in os.listdir(os.environ["HOME"]))
code = open("main.py").read()
os.makedirs("outputs", exist_ok=True)
open("outputs/solution.json", "w").write("{}")
open("scratch.txt", "w").write("x")
os.makedirs(os.path.join(os.environ["HOME"], ".cache"), exist_ok=True)
open(os.path.join(os.environ["HOME"], ".cache", "c"), "w").write("c")
options = json.load(sys.stdin)
if options.get("edit"):
    with open("main.py", "a") as f:
        f.write("# edited by the run\\n")
if options.get("edit_same_size"):
    with open("data.txt", "r+") as f:
        f.write("B")
print(json.dumps({"found": found, "cwd_inode": os.stat(".").st_ino, "edited": code.endswith("# edited by the run\\n")}))
"""


def _run(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path, pool: WorkspacePool, n: int, **opts: bool) -> dict:
    run_id = f"run-{n}"
    ctx.inputs[run_id] = tmp_path / f"{run_id}.json"
    ctx.inputs[run_id].write_text(json.dumps(opts))
    task = RunTask(run_id=run_id, app_id="app-1", bundle_id="b1", manifest={"files": ["main.py", "data.txt"]})
    report: LocalReport = execute(task, ctx, envs=envs, work_root=tmp_path / "work", poll_interval=0.05,
                                kill_grace=0.3, defer_cleanup=True, pool=pool)
    assert report.exit_code == 0, ctx.logs
    result = json.loads(report.output_path.read_text())  # type: ignore[union-attr]
    cleanup(report, artifacts=True, pool=pool)
    return result


def test_a_later_run_gets_the_workspace_back_clean(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    ctx.bundles["b1"] = make_bundle(tmp_path / "bundle", {"main.py": APP, "data.txt": "A"})
    pool = WorkspacePool(2)
    fresh = ["app.yaml", "data.txt", "main.py", "~/app"]
    first = _run(ctx, envs, tmp_path, pool, 1)
    assert first["found"] == fresh and len(pool) == 1
    second = _run(ctx, envs, tmp_path, pool, 2)
    # the same directory, with nothing the first run left in its cwd or HOME
    assert second["cwd_inode"] == first["cwd_inode"] and second["found"] == fresh
    assert len(list((tmp_path / "work").iterdir())) == 1  # only the kept workspace, under the last run's name

    _run(ctx, envs, tmp_path, pool, 3, edit=True)  # the app appends to its own main.py
    assert len(pool) == 0 and not list((tmp_path / "work").iterdir())  # that copy was deleted
    fourth = _run(ctx, envs, tmp_path, pool, 4)
    # A fresh copy (the kept one was deleted above; its inode number may be handed out again at once,
    # so numbers cannot tell the copies apart), with the code as pushed.
    assert not fourth["edited"] and fourth["found"] == fresh


def test_a_fresh_copy_changed_in_place_is_not_kept(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    """The first run of a fresh copy has its content compared: a same-size rewrite is caught even
    where the file's times could not show it."""
    ctx.bundles["b1"] = make_bundle(tmp_path / "bundle", {"main.py": APP, "data.txt": "A"})
    pool = WorkspacePool(2)
    _run(ctx, envs, tmp_path, pool, 1, edit_same_size=True)
    assert len(pool) == 0
    assert (_run(ctx, envs, tmp_path, pool, 2))["found"] == ["app.yaml", "data.txt", "main.py", "~/app"]
    assert len(pool) == 1
    assert next((tmp_path / "work").iterdir()).joinpath("ws", "app", "data.txt").read_text() == "A"

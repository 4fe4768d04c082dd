"""execute() end to end: real bundles, real uv-built environments, real processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runyard.execution.runtime.envs import EnvironmentBuilder
from runyard.execution.runtime.runner import execute
from runyard.execution.runtime.types import LocalReport, RunTask

from .conftest import FakeContext, make_bundle, tar_gz, tar_members

JSON_APP = (
    "import json, sys\n"
    "d = json.load(sys.stdin)\n"
    "print('solving', file=sys.stderr)\n"
    'print(json.dumps({"solution": d, "statistics": {"result": {"value": 3}}}))\n'
)
SIX_APP = (
    "import json, sys, six\n"
    "print(json.dumps({'six': six.__version__, 'file': six.__file__, 'prefix': sys.prefix}))\n"
)


def _run(
    ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path, bundle_files: dict[str, str], manifest: dict,
    *, input_bytes: bytes | None = None, run_id: str = "run-1", **task_kw: object,
) -> LocalReport:
    bundle_id = f"bundle-{run_id}"
    ctx.bundles[bundle_id] = make_bundle(tmp_path / bundle_id, bundle_files)
    if input_bytes is not None:
        ctx.inputs[run_id] = tmp_path / f"{run_id}.input"
        ctx.inputs[run_id].write_bytes(input_bytes)
    task = RunTask(run_id=run_id, app_id="app-1", bundle_id=bundle_id, manifest=manifest, **task_kw)  # type: ignore[arg-type]
    return execute(task, ctx, envs=envs, work_root=tmp_path / "work", poll_interval=0.05, kill_grace=0.3)


def test_json_app(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    report = _run(ctx, envs, tmp_path, {"main.py": JSON_APP}, {"files": ["main.py"]}, input_bytes=b'{"items": [1, 2]}')
    assert report.error == "" and report.exit_code == 0
    assert json.loads(report.output_path.read_text())["solution"] == {"items": [1, 2]}  # type: ignore[union-attr]
    assert report.statistics == {"result": {"value": 3}}
    assert "solving" in ctx.logs and report.stderr_tail == "solving"
    assert ctx.started == ["run-1"]
    assert report.artifacts_dir is not None and not (report.artifacts_dir / "ws").exists()


def test_failing_app_keeps_stderr(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    app = "import sys\nprint('partial')\nprint('Traceback: boom', file=sys.stderr)\nsys.exit(2)\n"
    report = _run(ctx, envs, tmp_path, {"main.py": app}, {})
    assert report.exit_code == 2 and report.error == ""
    assert "Traceback: boom" in report.stderr_tail
    assert json.loads(report.output_path.read_text()) == "partial\n"  # type: ignore[union-attr]
    assert any("not valid JSON" in line for line in ctx.logs)


def test_pip_requirement_installed_and_env_reused(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    manifest = {"python": {"pip-requirements": "requirements.txt"}}
    first = _run(ctx, envs, tmp_path, {"main.py": SIX_APP, "requirements.txt": "six==1.16.0\n"}, manifest, run_id="r1")
    assert first.error == "" and first.exit_code == 0, ctx.logs
    out1 = json.loads(first.output_path.read_text())  # type: ignore[union-attr]
    assert out1["six"] == "1.16.0" and out1["file"].startswith(str(envs.root))

    ctx.logs.clear()
    second = _run(ctx, envs, tmp_path, {"main.py": SIX_APP}, {"python": {"pip-requirements": ["Six==1.16.0"]}}, run_id="r2")
    out2 = json.loads(second.output_path.read_text())  # type: ignore[union-attr]
    assert out2["prefix"] == out1["prefix"]
    assert not any(line.startswith("Building Python environment") for line in ctx.logs)


def test_an_environment_is_built_with_its_bytecode_compiled(envs: EnvironmentBuilder) -> None:
    """Sandboxed runs see their environment read-only: what is not compiled when it is built would be
    compiled again by every run that imports it."""
    python = envs.ensure(["six==1.15.0"], lambda line: None)
    site = next((python.parent.parent / "lib").glob("python3*/site-packages"))
    assert list(site.glob("__pycache__/six.*.pyc")), "six was installed without its bytecode"


def test_sdk_bundled_deps_are_reinstalled_not_used(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    files = {
        "main.py": SIX_APP,
        ".nextmv/python/deps/six-1.16.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n",
        ".nextmv/python/deps/six.py": "raise SystemExit('the aarch64 bundle must never be imported')\n",
    }
    report = _run(ctx, envs, tmp_path, files, {"python": {"pip-requirements": "requirements.txt"}})
    assert report.exit_code == 0, ctx.logs
    out = json.loads(report.output_path.read_text())  # type: ignore[union-attr]
    assert out["six"] == "1.16.0" and out["file"].startswith(str(envs.root))
    assert "runyard: Python requirements: six==1.16.0" in ctx.logs


MULTI_FILE_APP = """
import json, os, sys
data = json.load(open("inputs/input.json"))
print("stdout is a log here")
print("and so is stderr", file=sys.stderr)
os.makedirs("outputs/solutions", exist_ok=True)
json.dump({"total": sum(data["values"])}, open("outputs/solutions/solution.json", "w"))
json.dump({"metrics": {"total": sum(data["values"])}}, open("outputs/metrics.json", "w"))
json.dump({"schema": "v1", "result": {"value": 7}}, open("outputs/statistics.json", "w"))
"""


def test_multi_file_app(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    manifest = {"files": ["main.py"], "configuration": {"content": {"format": "multi-file"}}}
    input_tar = tar_gz({"input.json": b'{"values": [3, 4]}', "extra/readme.txt": b"ignored"})
    report = _run(ctx, envs, tmp_path, {"main.py": MULTI_FILE_APP, "outputs/solutions/.keep": ""}, manifest,
                  input_bytes=input_tar, input_format="multi-file", output_format="multi-file")
    assert report.exit_code == 0 and report.error == "", ctx.logs
    members = tar_members(report.output_path)  # type: ignore[arg-type]
    assert set(members) == {"solution.json"}  # metrics and statistics live in the run metadata
    assert json.loads(members["solution.json"]) == {"total": 7}
    assert report.metrics == {"total": 7}
    assert report.statistics == {"schema": "v1", "result": {"value": 7}}
    assert "stdout is a log here" in ctx.logs and "and so is stderr" in ctx.logs
    assert report.stdout_tail == "stdout is a log here"


CSV_APP = """
import csv, json, os
rows = list(csv.DictReader(open("input/items.csv")))
os.makedirs("output", exist_ok=True)
with open("output/solution.csv", "w") as fh:
    fh.write("n\\n%d\\n" % len(rows))
print(json.dumps({"options": {}, "statistics": {"result": {"value": len(rows)}}}))
"""


def test_csv_archive_app(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    manifest = {"configuration": {"content": {"format": "csv-archive"}}}
    report = _run(ctx, envs, tmp_path, {"main.py": CSV_APP}, manifest,
                  input_bytes=tar_gz({"items.csv": b"a,b\n1,2\n3,4\n"}), input_format="csv-archive")
    assert report.exit_code == 0, ctx.logs
    assert tar_members(report.output_path) == {"solution.csv": b"n\n2\n"}  # type: ignore[arg-type]
    assert report.statistics == {"result": {"value": 2}}


SECRETS_APP = """
import json, os, sys
print(json.dumps({"env": dict(os.environ), "lic": open("licenses/acme.lic").read(), "argv": sys.argv[1:]}))
"""


def test_secrets_options_and_scrubbed_env(
    ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNYARD_SERVER_SENTINEL", "must-not-leak")
    manifest = {"configuration": {"options": {"format": ["--{{name}}={{value}}"]}}}
    report = _run(ctx, envs, tmp_path, {"main.py": SECRETS_APP}, manifest, options={"duration": "5"},
                  env={"ACME_KEY": "k1"}, files={"licenses/acme.lic": "LICENSE"})
    out = json.loads(report.output_path.read_text())  # type: ignore[union-attr]
    assert "RUNYARD_SERVER_SENTINEL" not in out["env"]
    assert out["env"]["ACME_KEY"] == "k1" and out["env"]["NEXTMV_RUN_ID"] == "run-1"
    assert out["lic"] == "LICENSE" and out["argv"] == ["--duration=5"]


def test_cancel_during_run(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    app = "import sys, time\nprint('working', file=sys.stderr, flush=True)\ntime.sleep(60)\n"
    ctx.cancel_on_line = "working"
    start = time.monotonic()
    report = _run(ctx, envs, tmp_path, {"main.py": app}, {})
    assert report.canceled and report.error == ""
    assert time.monotonic() - start < 10


def test_deadline(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    report = _run(ctx, envs, tmp_path, {"main.py": "import time\ntime.sleep(60)\n"}, {}, max_duration_seconds=0.5)
    assert report.deadline_hit and not report.canceled


@pytest.mark.parametrize(
    ("files", "manifest", "input_bytes", "input_format", "expected"),
    [
        ({"other.py": ""}, {}, None, "json", "entrypoint 'main.py' not found"),
        ({"main.py": ""}, {"execution": {"cwd": "../../"}}, None, "json", "leads outside"),
        ({"main.py": ""}, {"type": "nonsense"}, None, "json", "invalid manifest"),
        ({"main.py": ""}, {}, tar_gz({"../evil.txt": b"x"}), "multi-file", "input rejected"),
        ({"main.py": ""}, {"python": {"pip-requirements": ["not a ===requirement"]}}, None, "json", "uv exit"),
    ],
)
def test_infrastructure_errors_become_reports(
    ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path,
    files: dict, manifest: dict, input_bytes: bytes | None, input_format: str, expected: str,
) -> None:
    report = _run(ctx, envs, tmp_path, files, manifest, input_bytes=input_bytes, input_format=input_format)
    assert expected in report.error
    assert report.exit_code is None and ctx.started == []
    assert any(expected in line for line in ctx.logs) or expected == "uv exit"
    assert not (tmp_path / "evil.txt").exists()


def test_binary_for_another_architecture_is_a_clear_error(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    report = _run(ctx, envs, tmp_path, {"main": "\x7fELF not really"}, {"type": "binary"})
    assert report.exit_code is None
    assert report.error.startswith("could not start main: Exec format error")


def test_go_style_binary_runs_with_options(ctx: FakeContext, envs: EnvironmentBuilder, tmp_path: Path) -> None:
    script = '#!/bin/sh\necho "{\\"args\\": \\"$*\\"}"\n'
    manifest = {"type": "go", "configuration": {"options": {"format": ["-{{name}}={{value}}"]}}}
    report = _run(ctx, envs, tmp_path, {"main": script}, manifest, options={"solve.duration": "3s"})
    assert report.exit_code == 0, ctx.logs
    assert json.loads(report.output_path.read_text()) == {"args": "-solve.duration=3s"}  # type: ignore[union-attr]

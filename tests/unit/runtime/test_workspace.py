"""Workspace layout, the scrubbed environment, file secrets and argv building."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runyard.domain.manifest import parse_manifest
from runyard.execution.runtime.runner import command_argv
from runyard.execution.runtime.types import RunTask
from runyard.execution.runtime.workspace import (
    WorkspaceError,
    prepare_workspace,
    run_cwd,
    same_as_bundle,
    scrubbed_env,
    write_file_secrets,
)


def _bundle(root: Path) -> Path:
    bundle = root / "bundle"
    (bundle / ".nextmv/python/deps/six-1.16.0.dist-info").mkdir(parents=True)
    (bundle / ".nextmv/python/deps/six.py").write_text("raise SystemExit('bundled deps must not be used')")
    (bundle / ".nextmv/runs/local-1").mkdir(parents=True)
    (bundle / ".nextmv/golden").mkdir(parents=True)
    (bundle / ".nextmv/golden/expected.json").write_text("{}")
    (bundle / "src").mkdir()
    (bundle / "src/helper.py").write_text("X = 1\n")
    (bundle / "main.py").write_text("print('hi')\n")
    (bundle / "app.yaml").write_text("type: python\n# the bundle's own copy\n")
    return bundle


def test_prepare_workspace_copies_bundle_without_bundled_deps(tmp_path: Path) -> None:
    manifest = parse_manifest({"files": ["main.py"], "configuration": {"content": {"format": "multi-file"}}})
    app = prepare_workspace(_bundle(tmp_path), tmp_path / "ws", manifest)
    assert app == tmp_path / "ws/app"
    assert (app / "main.py").is_file() and (app / "src/helper.py").is_file()
    assert (app / ".nextmv/golden/expected.json").is_file()
    assert not (app / ".nextmv/python/deps").exists()
    assert not (app / ".nextmv/runs").exists()
    written = yaml.safe_load((app / "app.yaml").read_text())
    assert written["configuration"]["content"]["format"] == "multi-file"
    assert written["configuration"]["content"]["multi-file"]["input"]["path"] == "inputs"


def test_every_run_gets_an_exact_fresh_copy(tmp_path: Path) -> None:
    """The bundle's listing and small files are read once and reused: each copy still has every file's
    bytes and mode bits, links stay links, big files are copied whole, and a run's changes to its copy
    never reach the next copy."""
    bundle = _bundle(tmp_path)
    (bundle / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (bundle / "run.sh").chmod(0o750)
    big = os.urandom(3 * 1024 * 1024)  # over the in-memory size: copied from the bundle each time
    (bundle / "data.bin").write_bytes(big)
    (bundle / "link.py").symlink_to("main.py")
    manifest = parse_manifest({"files": ["main.py"]})
    first = prepare_workspace(bundle, tmp_path / "ws1", manifest)
    (first / "main.py").write_text("tampered")
    (first / "run.sh").chmod(0o600)
    (first / "data.bin").write_bytes(b"tampered")
    (first / "src/new.py").write_text("leak")
    second = prepare_workspace(bundle, tmp_path / "ws2", manifest)
    assert (second / "main.py").read_text() == "print('hi')\n"
    assert ((second / "run.sh").stat().st_mode & 0o777) == 0o750
    assert (second / "data.bin").read_bytes() == big
    assert (second / "link.py").is_symlink() and os.readlink(second / "link.py") == "main.py"
    assert not (second / "src/new.py").exists() and (second / "src/helper.py").read_text() == "X = 1\n"
    assert not (second / ".nextmv/python/deps").exists()
    assert "the bundle's own copy" not in (second / "app.yaml").read_text()


def test_paths_checked_against_the_bundle_agree_with_the_copy(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    (bundle / "outside").symlink_to(tmp_path)
    app = prepare_workspace(bundle, tmp_path / "ws", parse_manifest({"files": ["main.py"]}))
    assert run_cwd(app, parse_manifest({"execution": {"cwd": "./src/"}}), bundle) == app / "src"
    assert run_cwd(app, parse_manifest({}), bundle) == app
    for cwd in ("../..", "outside", "missing"):
        with pytest.raises(WorkspaceError):
            run_cwd(app, parse_manifest({"execution": {"cwd": cwd}}), bundle)


def test_cwd_resolves_inside_app_dir(tmp_path: Path) -> None:
    app = prepare_workspace(_bundle(tmp_path), tmp_path / "ws", parse_manifest({"files": ["main.py"]}))
    assert run_cwd(app, parse_manifest({"execution": {"cwd": "./src/"}})) == (app / "src").resolve()
    assert run_cwd(app, parse_manifest({})) == app.resolve()
    with pytest.raises(WorkspaceError):
        run_cwd(app, parse_manifest({"execution": {"cwd": "../.."}}))
    with pytest.raises(WorkspaceError):
        run_cwd(app, parse_manifest({"execution": {"cwd": "missing"}}))


def _task(**kw: object) -> RunTask:
    return RunTask(run_id="run-1", app_id="app-1", bundle_id="b", manifest={}, **kw)  # type: ignore[arg-type]


def test_scrubbed_env_hides_server_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_SENTINEL_SECRET", "leaked")
    monkeypatch.setenv("DURATION", "999")
    env = scrubbed_env(_task(env={"ACME_LICENSE": "k"}), "app-1", "run-1", workspace=tmp_path, bin_dir=tmp_path / "bin")
    seen = subprocess.run(
        [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        env=env, capture_output=True, text=True, check=True,
    )
    child = json.loads(seen.stdout)
    assert "RUNYARD_SENTINEL_SECRET" not in child and "DURATION" not in child
    assert child["NEXTMV_APP_ID"] == "app-1" and child["NEXTMV_RUN_ID"] == "run-1"
    assert child["ACME_LICENSE"] == "k"
    assert child["HOME"] == str(tmp_path) and child["TMPDIR"].startswith(str(tmp_path))
    assert child["PATH"].split(":")[0] == str(tmp_path / "bin")
    assert child["PYTHONUNBUFFERED"] == "1" and child["PYTHONIOENCODING"] == "utf-8"
    assert set(env) <= set(child)


@pytest.mark.parametrize("bad", ["PATH", "NEXTMV_RUN_ID", "BAD NAME", "X=Y"])
def test_secret_env_refuses_reserved_or_invalid_names(tmp_path: Path, bad: str) -> None:
    with pytest.raises(WorkspaceError):
        scrubbed_env(_task(env={bad: "v"}), "a", "r", workspace=tmp_path)


def test_file_secrets_written_relative_to_app(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    write_file_secrets(app, {"licenses/acme.lic": "KEY", "gurobi.lic": "G"})
    assert (app / "licenses/acme.lic").read_text() == "KEY"
    assert (app / "gurobi.lic").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("location", ["../escape.lic", "a/../../escape.lic", "/etc/evil.lic", "", "link/x.lic"])
def test_file_secrets_refuse_escaping_paths(tmp_path: Path, location: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    os.symlink(tmp_path, app / "link")  # a link in the bundle must not become a way out
    with pytest.raises(WorkspaceError):
        write_file_secrets(app, {location: "x"})
    assert not (tmp_path / "escape.lic").exists() and not (tmp_path / "x.lic").exists()


def _app_with(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).write_text("")
    return tmp_path


def test_argv_default_template(tmp_path: Path) -> None:
    app = _app_with(tmp_path, "main.py")
    argv = command_argv(parse_manifest({}), app, Path("/env/bin/python"), {"duration": "5", "details": "false"})
    assert argv == ["/env/bin/python", str(app / "main.py"), "-duration", "5", "-details", "false"]


def test_argv_custom_template_and_binary(tmp_path: Path) -> None:
    app = _app_with(tmp_path, "main")
    manifest = parse_manifest({"type": "go", "configuration": {"options": {"format": ["--{{name}}={{value}}"]}}})
    argv = command_argv(manifest, app, None, {"solve.duration": "3s", "details": "false"})
    assert argv == [str(app / "main"), "--solve.duration=3s", "--details=false"]
    assert os.access(app / "main", os.X_OK)


def test_argv_missing_entrypoint(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="entrypoint"):
        command_argv(parse_manifest({"execution": {"entrypoint": "./app.py"}}), tmp_path, Path("/p"), {})


@pytest.mark.parametrize(
    "change",
    [
        lambda app: (app / "main.py").write_text("print('ho')\n"),  # same size, other bytes
        lambda app: (app / "src/helper.py").write_text("X = 1\nY = 2\n"),
        lambda app: (app / "app.yaml").write_text("type: go\n"),
        lambda app: ((app / "src/link").unlink(), (app / "src/link").symlink_to("/etc/passwd")),
        lambda app: (app / "big.bin").write_bytes(b"\0" * 300_000 + b"\1"),  # a file not kept in memory
    ],
)
def test_same_as_bundle_compares_the_content(tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    bundle = _bundle(tmp_path)
    (bundle / "src/link").symlink_to("helper.py")
    (bundle / "big.bin").write_bytes(b"\0" * 300_001)  # over the in-memory size: read from the bundle
    manifest = parse_manifest({"files": ["main.py", "src", "big.bin"]})
    app = prepare_workspace(bundle, tmp_path / "ws", manifest)
    assert same_as_bundle(app, bundle, manifest)
    change(app)
    assert not same_as_bundle(app, bundle, manifest)

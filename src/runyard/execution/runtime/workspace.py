"""A run's private workspace: a fresh copy of the app, its manifest, its secrets, a scrubbed environment.

Each run gets its own copy so outputs never leak between runs, and the process sees only what is
listed here: the server's environment variables are never passed on (the SDK falls back to env vars
named like options, so a leaked ``INPUT`` or ``DURATION`` would change app behaviour).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import yaml

from runyard.domain.manifest import Manifest
from runyard.execution.runtime.orphans import EXECUTION_ID_VAR
from runyard.execution.runtime.types import RunTask

APP_DIR_NAME = "app"
TMP_DIR_NAME = "tmp"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Never copied into the run: SDK-bundled ARM64 wheels (replaced by our env) and local SDK run caches.
EXCLUDED = frozenset({".nextmv/python/deps", ".nextmv/runs", ".nextmv/cache"})
# Secrets may not replace these: the runner depends on them, and the run ids identify the run.
RESERVED_ENV = frozenset({"PATH", "HOME", "TMPDIR", "NEXTMV_APP_ID", "NEXTMV_RUN_ID", EXECUTION_ID_VAR})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WorkspaceError(RuntimeError):
    """The bundle or the run's settings cannot be laid out safely (bad paths, missing directories)."""


def _contained(root: Path, relative: str | Path) -> Path:
    """``root/relative`` resolved; WorkspaceError if it escapes ``root`` (through ``..`` or links)."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise WorkspaceError(f"path {str(relative)!r} leads outside the app directory")
    return target


def _ignore_excluded(bundle_dir: Path):  # type: ignore[no-untyped-def]
    """A copytree ``ignore`` callback that skips the EXCLUDED subtrees of the bundle."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(bundle_dir)
        return {name for name in names if (rel / name).as_posix() in EXCLUDED}

    return ignore


def write_manifest(app_dir: Path, manifest: Manifest) -> None:
    """The normalized manifest as ``app.yaml``: SDK apps call ``nextmv.load()``, which reads it from cwd."""
    data = manifest.model_dump(by_alias=True, exclude_none=True)
    (app_dir / "app.yaml").write_text(_yaml_text(json.dumps(data)), encoding="utf-8")


@functools.lru_cache(maxsize=256)
def _yaml_text(data_json: str) -> str:
    """YAML of a manifest, memoized: every run of a version writes the same text, and dumping YAML
    costs about a millisecond."""
    return yaml.safe_dump(json.loads(data_json), sort_keys=False)


def prepare_workspace(bundle_dir: Path, workspace: Path, manifest: Manifest) -> Path:
    """Copy the bundle into ``workspace/app`` (minus EXCLUDED), write ``app.yaml``; returns the app dir."""
    bundle_dir = Path(bundle_dir).resolve()
    app_dir = Path(workspace) / APP_DIR_NAME
    # symlinks=True: links are copied as links, never followed out of the bundle. shutil.copy keeps the
    # mode bits (scripts stay executable) but not timestamps and extended attributes: a third of copy2's cost.
    shutil.copytree(bundle_dir, app_dir, symlinks=True, ignore=_ignore_excluded(bundle_dir), copy_function=shutil.copy)
    (Path(workspace) / TMP_DIR_NAME).mkdir(exist_ok=True)
    write_manifest(app_dir, manifest)
    return app_dir


def run_cwd(app_dir: Path, manifest: Manifest) -> Path:
    """The process's working directory: ``execution.cwd`` resolved against the app root, kept inside it."""
    cwd = _contained(app_dir, manifest.working_directory)
    if not cwd.is_dir():
        raise WorkspaceError(f"working directory {manifest.working_directory!r} does not exist in the bundle")
    return cwd


def entrypoint_path(app_dir: Path, manifest: Manifest) -> Path:
    """The entrypoint file inside the app dir; WorkspaceError if missing or outside."""
    path = _contained(app_dir, manifest.entrypoint)
    if not path.is_file():
        raise WorkspaceError(f"entrypoint {manifest.entrypoint!r} not found in the bundle")
    return path


def scrubbed_env(
    task: RunTask, app_id: str, run_id: str, *, workspace: Path, bin_dir: Path | None = None,
    execution_id: str | None = None,
) -> dict[str, str]:
    """The complete environment of the app process; nothing is inherited from the server.

    ``execution_id`` tags every process of this attempt, so leftovers can be found and killed.
    """
    path = SAFE_PATH if bin_dir is None else f"{bin_dir}:{SAFE_PATH}"
    env = {
        "PATH": path,
        "HOME": str(workspace),
        "TMPDIR": str(Path(workspace) / TMP_DIR_NAME),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    env.update(_secret_env(task.env))
    env["NEXTMV_APP_ID"] = app_id
    env["NEXTMV_RUN_ID"] = run_id
    if execution_id is not None:
        env[EXECUTION_ID_VAR] = execution_id
    return env


def _secret_env(values: Mapping[str, str]) -> dict[str, str]:
    """Secret env vars that are valid names and not reserved; a bad one is refused, not silently dropped."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if not _ENV_NAME.match(name) or "\x00" in str(value):
            raise WorkspaceError(f"invalid environment variable name or value: {name!r}")
        if name in RESERVED_ENV:
            raise WorkspaceError(f"environment variable {name!r} is reserved by the runner")
        out[name] = str(value)
    return out


def _secret_target(app_dir: Path, location: str) -> Path:
    """Where a file secret goes: relative to the app dir, never absolute, never through ``..``."""
    pure = PurePosixPath(location.replace("\\", "/"))
    if not location or pure.is_absolute() or ".." in pure.parts or "\x00" in location:
        raise WorkspaceError(f"file secret location {location!r} must be a relative path without '..'")
    return _contained(app_dir, pure)


def write_file_secrets(app_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write each ``relative path -> content`` secret under the app dir, readable by the owner only."""
    written: list[Path] = []
    for location, content in files.items():
        target = _secret_target(app_dir, location)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_dir():
            raise WorkspaceError(f"file secret location {location!r} is not a regular file path")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        written.append(target)
    return written

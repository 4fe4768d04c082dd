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
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from runyard.domain.manifest import Manifest
from runyard.domain.memo import Memo
from runyard.execution.runtime.orphans import EXECUTION_ID_VAR
from runyard.execution.runtime.sandbox import SAFE_PATH
from runyard.execution.runtime.types import RunTask

APP_DIR_NAME = "app"
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


def write_manifest(app_dir: Path, manifest: Manifest) -> None:
    """The normalized manifest as ``app.yaml``: SDK apps call ``nextmv.load()``, which reads it from cwd."""
    (app_dir / "app.yaml").write_text(_manifest_text(manifest), encoding="utf-8")


@functools.lru_cache(maxsize=256)
def _yaml_text(data_json: str) -> str:
    """YAML of a manifest, memoized: every run of a version writes the same text, and dumping YAML
    costs about a millisecond."""
    return yaml.safe_dump(json.loads(data_json), sort_keys=False)


@dataclass(frozen=True)
class _Layout:
    """What a bundle's copy consists of, read once per bundle (an unpacked bundle never changes)."""

    dirs: tuple[tuple[str, int], ...]              # (relative path, mode), parents first
    links: tuple[tuple[str, str], ...]             # (relative path, link target), copied as links
    files: tuple[tuple[str, int, bytes | None], ...]  # (relative path, mode, content if kept in memory)


_SMALL_FILE = 256 * 1024          # files up to this size are kept in memory…
_LAYOUT_BYTES = 1024 * 1024       # …up to this much per bundle; larger ones are copied from the bundle
_layouts: Memo[str, _Layout] = Memo(64)
_inside_cache: Memo[tuple[str, str], str] = Memo(256)


def _layout(bundle_dir: Path) -> _Layout:
    key = str(bundle_dir)
    cached = _layouts.get(key)
    if cached is not None:
        return cached
    dirs: list[tuple[str, int]] = []
    links: list[tuple[str, str]] = []
    files: list[tuple[str, int, bytes | None]] = []
    kept = 0
    for dirpath, dirnames, filenames in os.walk(bundle_dir):
        rel_dir = os.path.relpath(dirpath, bundle_dir)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for name in sorted(dirnames):
            rel = rel_dir + name
            if rel in EXCLUDED:
                dirnames.remove(name)
            elif os.path.islink(os.path.join(dirpath, name)):  # links are copied as links, never followed
                links.append((rel, os.readlink(os.path.join(dirpath, name))))
            else:
                dirs.append((rel, stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)))
        for name in sorted(filenames):
            rel, path = rel_dir + name, os.path.join(dirpath, name)
            if rel in EXCLUDED or rel == "app.yaml":  # app.yaml is written from the parsed manifest
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                links.append((rel, os.readlink(path)))
            elif stat.S_ISREG(st.st_mode):
                data = None
                if st.st_size <= _SMALL_FILE and kept + st.st_size <= _LAYOUT_BYTES:
                    data = Path(path).read_bytes()
                    kept += len(data)
                files.append((rel, stat.S_IMODE(st.st_mode), data))
    return _layouts.remember(key, _Layout(tuple(dirs), tuple(links), tuple(files)))


def _write_new(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # exactly the bundle's bits, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def prepare_workspace(bundle_dir: Path, workspace: Path, manifest: Manifest) -> Path:
    """Copy the bundle into ``workspace/app`` (minus EXCLUDED), write ``app.yaml``; returns the app dir.

    Links are copied as links, never followed out of the bundle; files keep their mode bits (scripts
    stay executable) but not timestamps. The bundle's listing and small files are read once.
    """
    bundle_dir = Path(bundle_dir).resolve()
    layout = _layout(bundle_dir)
    app_dir = Path(workspace) / APP_DIR_NAME
    app = str(app_dir)
    os.makedirs(app)  # one mkdir when the workspace exists, as it does for a run
    for rel, mode in layout.dirs:
        os.mkdir(f"{app}/{rel}", mode | stat.S_IRWXU)
    for rel, target in layout.links:
        os.symlink(target, f"{app}/{rel}")
    for rel, mode, data in layout.files:
        if data is None:
            shutil.copyfile(bundle_dir / rel, f"{app}/{rel}", follow_symlinks=False)
            os.chmod(f"{app}/{rel}", mode)
        else:
            _write_new(f"{app}/{rel}", data, mode)
    _write_new(f"{app}/app.yaml", _manifest_text(manifest).encode(), 0o644)
    return app_dir


def same_as_bundle(app_dir: Path, bundle_dir: Path, manifest: Manifest) -> bool:
    """Whether the copy in ``app_dir`` still has the content :func:`prepare_workspace` gave it: every
    file's bytes, every link's target, ``app.yaml``. (Which entries exist, and their modes, are
    checked by ``spares.restore``; this covers a change made so soon after the copy that the file's
    change time, which has the kernel's tick as its resolution, could not show it.)"""
    bundle_dir = Path(bundle_dir).resolve()
    layout = _layout(bundle_dir)
    app = str(app_dir)
    try:
        if any(os.readlink(f"{app}/{rel}") != target for rel, target in layout.links):
            return False
        for rel, _, data in layout.files:
            if not _same_bytes(f"{app}/{rel}", data if data is not None else None, bundle_dir / rel):
                return False
        return _same_bytes(f"{app}/app.yaml", _manifest_text(manifest).encode(), None)
    except OSError:
        return False


def _same_bytes(path: str, data: bytes | None, source: Path | None) -> bool:
    with open(path, "rb") as copy:
        if data is not None:
            return copy.read(len(data) + 1) == data
        assert source is not None
        with open(source, "rb") as original:
            while True:
                a, b = copy.read(1024 * 1024), original.read(1024 * 1024)
                if a != b:
                    return False
                if not a:
                    return True


def _manifest_text(manifest: Manifest) -> str:
    return _yaml_text(json.dumps(manifest.model_dump(by_alias=True, exclude_none=True)))


def _inside_bundle(bundle_dir: Path, relative: str) -> str:
    """``relative`` resolved inside the bundle, as a path relative to it (WorkspaceError if it escapes);
    remembered, since the bundle never changes. The workspace is a copy with the same links, so the
    answer holds there too."""
    key = (str(bundle_dir), relative)
    cached = _inside_cache.get(key)
    if cached is None:
        root = Path(bundle_dir).resolve()
        cached = _inside_cache.remember(key, _contained(root, relative).relative_to(root).as_posix())
    return cached


def _in_app(app_dir: Path, relative: str, bundle_dir: Path | None) -> Path:
    if bundle_dir is None:
        return _contained(app_dir, relative)
    inner = _inside_bundle(bundle_dir, relative)
    return app_dir if inner == "." else app_dir / inner


def run_cwd(app_dir: Path, manifest: Manifest, bundle_dir: Path | None = None) -> Path:
    """The process's working directory: ``execution.cwd`` resolved against the app root, kept inside it.
    With ``bundle_dir`` (what ``app_dir`` is a copy of), the resolution is done once per bundle."""
    cwd = _in_app(app_dir, manifest.working_directory, bundle_dir)
    if not cwd.is_dir():
        raise WorkspaceError(f"working directory {manifest.working_directory!r} does not exist in the bundle")
    return cwd


def entrypoint_path(app_dir: Path, manifest: Manifest, bundle_dir: Path | None = None) -> Path:
    """The entrypoint file inside the app dir; WorkspaceError if missing or outside."""
    path = _in_app(app_dir, manifest.entrypoint, bundle_dir)
    if not path.is_file():
        raise WorkspaceError(f"entrypoint {manifest.entrypoint!r} not found in the bundle")
    return path


def base_env(workspace: Path, bin_dir: Path | None = None) -> dict[str, str]:
    """What the environment of every run in ``workspace`` holds besides the run's own variables."""
    return {
        "PATH": SAFE_PATH if bin_dir is None else f"{bin_dir}:{SAFE_PATH}",
        "HOME": str(workspace),
        "TMPDIR": str(workspace),  # its own directory: one fewer to make per run
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }


def scrubbed_env(
    task: RunTask, app_id: str, run_id: str, *, workspace: Path, bin_dir: Path | None = None,
    execution_id: str | None = None,
) -> dict[str, str]:
    """The complete environment of the app process; nothing is inherited from the server.

    ``execution_id`` tags every process of this attempt, so leftovers can be found and killed.
    """
    env = base_env(workspace, bin_dir)
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

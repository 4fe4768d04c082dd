"""Python environments for apps: which requirements a bundle needs, and a cached virtualenv holding them.

One virtualenv exists per distinct set of pinned requirements (plus interpreter version), so every
run of every app version that shares the set reuses it. Builds use ``uv`` with its shared cache, go
into a temporary directory and are renamed into place only when complete, so a crashed or failed
build never leaves a half-built environment that a later run would trust.
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.parser import HeaderParser
from pathlib import Path

from runyard.domain.manifest import Manifest
from runyard.domain.memo import Memo
from runyard.execution.runtime import limit_exec

BUNDLED_DEPS = Path(".nextmv/python/deps")
_KEY_SALT = "runyard-env-v2"  # bump when the env layout changes so old envs are not reused (v2: bytecode compiled)
_READY_MARKER = ".runyard-ready"
_REQUIREMENTS_NAME = "requirements.txt"
_NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$")
_INCLUDE_RE = re.compile(r"^(?:-r|--requirement)(?:\s+|=)(.+)$")
_MAX_INCLUDE_DEPTH = 5
_TAIL_LINES = 40
LIMIT_EXEC_DIR = limit_exec.CACHE_SUBDIR  # under the cache root: built programs (the launcher)

Log = Callable[[str], None]


_BUILDS: dict[str, float] = {"succeeded": 0, "failed": 0, "seconds": 0.0}
_builds_lock = threading.Lock()


def build_stats() -> dict[str, float]:
    """Environments this process built (succeeded, failed) and the seconds it spent, for /metrics."""
    with _builds_lock:
        return dict(_BUILDS)


def _count_build(outcome: str, seconds: float) -> None:
    with _builds_lock:
        _BUILDS[outcome] += 1
        _BUILDS["seconds"] += seconds


class EnvironmentBuildError(RuntimeError):
    """The app's Python environment could not be built; the message carries uv's last output lines."""


def canonical_name(name: str) -> str:
    """PEP 503 normalization, so ``Six``, ``six`` and ``SIX`` share one environment."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_line(line: str) -> str:
    """One requirement line in a stable form: comments and extra blanks gone, package name canonical.

    Option lines (``--index-url …``) are kept as written: their values are URLs, not names.
    """
    line = re.sub(r"(^|\s)#.*$", "", line).strip()
    line = " ".join(line.split())
    if not line or line.startswith("-"):
        return line
    match = _NAME_RE.match(line)
    if match is None:  # URLs, local paths: leave them to uv to judge
        return line
    return canonical_name(match.group(1)) + match.group(2)


def _inside(root: Path, relative: str | Path) -> Path | None:
    """``root/relative`` if it stays inside ``root`` after resolving links (bundles are untrusted)."""
    candidate = (root / relative).resolve()
    root = root.resolve()
    return candidate if candidate == root or root in candidate.parents else None


def _normalized(requirements: list[str]) -> list[str]:
    return sorted({line for line in (normalize_line(r) for r in requirements) if line})


def bundled_requirements(app_dir: Path) -> list[str] | None:
    """``name==version`` for each dist-info the official SDK bundled, or None if it bundled nothing.

    Those files are wheels for Linux ARM64 and useless here, but their versions are the exact lock the
    SDK resolved at push time, so rebuilding from them reproduces the app's environment.
    """
    deps = app_dir / BUNDLED_DEPS
    pins: set[str] = set()
    for metadata in deps.glob("*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"))
        name, version = headers.get("Name"), headers.get("Version")
        if name and version:
            pins.add(f"{canonical_name(name.strip())}=={version.strip()}")
    return sorted(pins) if pins else None


def _requirements_file_lines(path: Path, app_dir: Path, depth: int = 0) -> list[str]:
    """Non-comment lines of a requirements file; ``-r other.txt`` is inlined (the build runs elsewhere)."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = normalize_line(raw)
        include = _INCLUDE_RE.match(line) if line else None
        if include and depth < _MAX_INCLUDE_DEPTH:
            nested = _inside(app_dir, path.parent / include.group(1).strip())
            if nested is not None and nested.is_file():
                lines.extend(_requirements_file_lines(nested, app_dir, depth + 1))
            continue
        if line:
            lines.append(line)
    return lines


def _pyproject_dependencies(path: Path) -> list[str]:
    """``[project].dependencies`` of a pyproject.toml, as the SDK reads them when packaging."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    deps = data.get("project", {}).get("dependencies", []) or []
    return [line for line in (normalize_line(str(d)) for d in deps) if line]


def declared_requirements(app_dir: Path, manifest: Manifest, warn: Log | None = None) -> list[str]:
    """The requirements named by ``python.pip-requirements``: an inline list or a file in the bundle."""
    source = manifest.python.pip_requirements if manifest.python else None
    if not source:
        return []
    if isinstance(source, list):
        return [line for line in (normalize_line(str(item)) for item in source) if line]
    path = _inside(app_dir, source)
    if path is None or not path.is_file():
        # The SDK does not ship the requirements file unless `files` lists it; without bundled deps
        # the app then simply has no requirements on the Cloud either.
        if warn:
            warn(f"python.pip-requirements names {source!r}, which the bundle does not contain")
        return []
    if path.name.endswith(".toml"):
        return _pyproject_dependencies(path)
    return _requirements_file_lines(path, app_dir)


def requirements_for(app_dir: Path, manifest: Manifest, warn: Log | None = None) -> list[str]:
    """The requirement lines for an unpacked bundle: the SDK's bundled lock first, else the manifest's."""
    if manifest.type != "python":
        return []
    bundled = bundled_requirements(app_dir)
    return bundled if bundled is not None else declared_requirements(app_dir, manifest, warn)


def base_interpreter() -> str:
    """The real base Python behind the server's venv, so app envs never inherit the server's packages."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


class EnvironmentBuilder:
    """Builds and caches one virtualenv per distinct requirement set under ``root``.

    Safe across threads and processes: a per-key thread lock plus an ``flock`` on ``root/<key>.lock``
    make concurrent callers wait for a single build and then reuse it.
    """

    def __init__(self, *, root: Path, python: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.python = python or base_interpreter()
        self._version: str | None = None
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        # An unpacked bundle never changes: its requirements (and the warnings reading them gave) are
        # read once, and the key of a requirement set is hashed once.
        self._requirements: Memo[tuple[str, str], tuple[list[str], list[str]]] = Memo(256)
        self._keys: Memo[tuple[str, ...], str] = Memo(256)

    def limit_exec(self) -> Path | None:
        """The memory cap's launcher (``limit_exec``), built once into this cache; None without a compiler."""
        return limit_exec.build(self.root / LIMIT_EXEC_DIR)

    def requirements_for(self, app_dir: Path, manifest: Manifest, warn: Log | None = None) -> list[str]:
        """See the module-level :func:`requirements_for`; remembered per bundle directory and manifest."""
        python = manifest.python.model_dump_json() if manifest.python else ""
        cache_key = (str(app_dir), f"{manifest.type}|{python}")
        cached = self._requirements.get(cache_key)
        if cached is None:
            warnings: list[str] = []
            cached = self._requirements.remember(cache_key, (requirements_for(app_dir, manifest, warnings.append), warnings))
        requirements, warnings = cached
        for line in warnings if warn else ():
            warn(line)
        return list(requirements)

    @property
    def python_version(self) -> str:
        """The interpreter's full version, part of the cache key (a new patch release gets new envs)."""
        if self._version is None:
            try:
                out = subprocess.run(
                    [self.python, "-c", "import platform; print(platform.python_version())"],
                    capture_output=True, text=True, check=True, env=_uv_env(), timeout=60,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise EnvironmentBuildError(f"the Python interpreter {self.python!r} is not usable: {exc}") from None
            self._version = out.stdout.strip()
        return self._version

    def key(self, requirements: list[str]) -> str:
        """Cache key: sha256 over the sorted, normalized lines and the interpreter version."""
        lines = tuple(requirements)
        key = self._keys.get(lines)
        if key is None:
            payload = "\n".join([_KEY_SALT, self.python_version, *_normalized(requirements)])
            key = self._keys.remember(lines, hashlib.sha256(payload.encode()).hexdigest()[:32])
        return key

    def path_for(self, requirements: list[str]) -> Path:
        """Where the environment for ``requirements`` lives (whether or not it is built yet)."""
        return self.root / self.key(requirements)

    def ensure(self, requirements: list[str], log: Log) -> Path:
        """The python executable of a ready env with exactly ``requirements``, building it once if needed."""
        key = self.key(requirements)
        final = self.root / key
        if _is_ready(final):
            return final / "bin" / "python"
        self.root.mkdir(parents=True, exist_ok=True)
        with self._thread_lock(key), _file_lock(self.root / f"{key}.lock"):
            if not _is_ready(final):  # another caller may have finished while we waited
                self._build(key, final, requirements, log)
            else:
                log("Python environment ready (built by a concurrent run)")
        return final / "bin" / "python"

    def _thread_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _build(self, key: str, final: Path, requirements: list[str], log: Log) -> None:
        _remove_stale(self.root, key, final)
        tmp = self.root / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        log(f"Building Python environment ({len(requirements)} requirements, Python {self.python_version})")
        started = time.monotonic()
        try:
            self._create(tmp, requirements, log)
            (tmp / _READY_MARKER).write_text("\n".join(_normalized(requirements)) + "\n")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            _count_build("failed", time.monotonic() - started)
            raise
        _count_build("succeeded", time.monotonic() - started)
        log("Python environment built")

    def _create(self, tmp: Path, requirements: list[str], log: Log) -> None:
        uv = _uv_bin()
        # --relocatable: scripts use relative shebangs, so the env still works after the rename.
        _run_uv([uv, "venv", "--relocatable", "--no-project", "--python", self.python, str(tmp)], self.root, log)
        if not requirements:
            return
        req_file = tmp / _REQUIREMENTS_NAME
        req_file.write_text("\n".join(_normalized(requirements)) + "\n", encoding="utf-8")
        _run_uv(
            # Compiled now: runs see the environment read-only (their sandbox), so a module they import
            # would otherwise be compiled anew by every run.
            [uv, "pip", "install", "--compile-bytecode", "--python", str(tmp / "bin" / "python"), "-r", str(req_file)],
            self.root,
            log,
        )


def _is_ready(env: Path) -> bool:
    return (env / _READY_MARKER).is_file() and (env / "bin" / "python").exists()


def _remove_stale(root: Path, key: str, final: Path) -> None:
    """Leftovers of builds that died mid-way; safe to remove because we hold the key's lock."""
    for leftover in root.glob(f".{key}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if final.exists():  # present but not ready: never trust it
        shutil.rmtree(final, ignore_errors=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _uv_bin() -> str:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise EnvironmentBuildError("uv is not installed: install runyard[server]") from None
        return found


def _uv_env() -> dict[str, str]:
    """The server's env for uv (cache dir, index config), minus what would redirect it to another venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["NO_COLOR"] = "1"
    return env


def _run_uv(argv: list[str], cwd: Path, log: Log) -> None:
    """Run uv, streaming its output lines to ``log``; EnvironmentBuildError with the tail on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    with subprocess.Popen(
        argv, cwd=cwd, env=_uv_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\r\n")
            tail.append(line)
            log(line)
        code = proc.wait()
    if code != 0:
        detail = "\n".join(tail)
        raise EnvironmentBuildError(f"building the Python environment failed (uv exit {code}):\n{detail}")

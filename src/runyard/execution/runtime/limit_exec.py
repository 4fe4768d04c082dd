"""The launcher of an app's process, built from ``limit_exec.c`` with the machine's C compiler when it has one.

A run's process is started as ``limit-exec -c CGROUP -r nofile=N … -- bwrap …``: the program joins the
run's cgroups, sets its rlimits and executes the sandbox; inside, ``limit-exec -u UID:GID -E FD -- app``
switches to the sandbox uid and hands the app its environment. Without a compiler a ``preexec_fn`` does the
same, which keeps CPython from starting the process with vfork (a copy of the server's page tables
per run). It is built once per source and kept in the environment cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import subprocess
import threading
from pathlib import Path

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("limit_exec.c")
CACHE_SUBDIR = ".bin"  # where it is built under an environment cache
_lock = threading.Lock()
_built: dict[str, Path | None] = {}


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(cache_dir: Path, cc: str | None = None) -> Path | None:
    """The launcher under ``cache_dir`` (built on first use; static if the C library allows it), or
    None when it cannot be built here: then a preexec hook does its work."""
    key = str(cache_dir)
    with _lock:
        if key in _built:
            return _built[key]
        _built[key] = path = _build(Path(cache_dir), cc or compiler())
        return path


def _build(cache_dir: Path, cc: str | None) -> Path | None:
    try:
        source = SOURCE.read_bytes()
    except OSError:
        return None
    target = cache_dir / f"limit-exec-{hashlib.sha256(source).hexdigest()[:16]}"
    if os.access(target, os.X_OK):
        return target
    if cc is None:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f".{target.name}.{secrets.token_hex(4)}"
    try:
        for flags in (["-static"], []):  # a static program starts fastest; not every C library has one
            done = subprocess.run([cc, "-O2", *flags, "-o", str(partial), str(SOURCE)], capture_output=True,
                                  timeout=120, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            if done.returncode == 0 and _works(partial):
                os.replace(partial, target)  # atomic: another process building it at once is harmless
                return target
        log.warning("could not build the launcher with %s; a preexec hook does its work instead: %s",
                    cc, done.stderr.decode(errors="replace")[-500:])
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not build the launcher: %s; a preexec hook does its work instead", exc)
    finally:
        partial.unlink(missing_ok=True)
    return None


def _works(program: Path) -> bool:
    """The program sets the limit it is given and executes what follows it."""
    done = subprocess.run([str(program), "-r", f"as={512 * 1024 * 1024}", "--", "/bin/sh", "-c", "ulimit -v"],
                          capture_output=True, timeout=30, env={})
    return done.returncode == 0 and done.stdout.strip() == str(512 * 1024).encode()

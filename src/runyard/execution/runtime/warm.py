"""Sandboxes started ahead of their run, for the next run of the same executable in a kept workspace.

Starting bubblewrap (its namespaces, its mounts, a fresh ``/proc`` and ``/tmp``) took about 5 ms of a
trivial run's latency. When a run's workspace is kept for the next run of the same executable
(``spares``), a sandbox is started for it at once, built exactly as that run's was, and waits: its
launcher (``limit-exec -S``, still root inside, with nothing of any run yet) blocks on a socket. The
next run with the same sandbox (the same read-only paths, network, limits and ``/etc``) sends it what
is the run's own over that socket (the program's arguments, its folder, its stdin and stdout and its
environment as a file descriptor): the launcher then switches to the sandbox uid and executes the app,
which so sees the same sandbox a fresh start would give it. Any difference, or a sandbox that has
ended, and the run starts its own as before.

For a Python app (``python=True``) the launcher switches to the sandbox uid at once and starts the
app's interpreter with the environment every run of the workspace shares (``workspace.base_env``):
``warm_python`` then waits for the same message and runs the script itself, which takes Python's
start-up off the run's path too. It falls back to executing the run's program where the run is not
``PYTHON SCRIPT.py`` or its environment differs in what Python reads as it starts.

A waiting sandbox holds its cgroup (with the limits its run will have) and its ``/etc`` copy. It is let
go (killed: nothing of any run is in it) when its workspace leaves the
pool unused, when it does not fit the run that takes the workspace, and when the machine's host
shuts down. Sandboxes are started by one long-lived thread: bubblewrap's ``--die-with-parent`` follows
the thread that started it, which must outlive the sandbox.
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import queue
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from runyard.execution.contract import Limits
from runyard.execution.runtime.sandbox import SAFE_PATH, RunCgroup, Sandbox, self_limits
from runyard.execution.runtime.workspace import base_env

log = logging.getLogger(__name__)

# What fits one message to the launcher (its folder and arguments): larger runs start their own sandbox.
MAX_MESSAGE = 60 * 1024


@dataclass(frozen=True)
class WarmSpec:
    """Everything a run's sandbox is built from, besides its workspace: a waiting sandbox serves a run
    only if the run's spec is equal to the one it was started with."""

    ro: tuple[str, ...]
    network: bool
    tmp_bytes: int
    limits: Limits
    max_output_bytes: int | None
    address_space_headroom_mb: int
    python: str | None = None  # a Python app's interpreter (started ahead too, where the warmer does that)


class WarmSandbox:
    """One sandbox waiting for its run: the process (limit-exec, then bwrap), its socket, its cgroup and
    the ``/etc`` copy it shows."""

    def __init__(self, *, proc: subprocess.Popen, sock: socket.socket, cgroup: RunCgroup | None, etc: Path | None,
                 spec: WarmSpec, workspace: Path, sandbox: Sandbox) -> None:
        self.proc, self.sock, self.cgroup, self.etc = proc, sock, cgroup, etc
        self.spec, self.workspace, self.sandbox = spec, workspace, sandbox
        self.handed = False
        self._done = False

    def fits(self, spec: WarmSpec, workspace: Path) -> bool:
        """Whether it can serve a run with ``spec`` in ``workspace``: the same sandbox, still waiting, with
        the ``/etc`` runs are shown now."""
        if spec != self.spec or workspace != self.workspace or self.proc.poll() is not None:
            return False
        return self.current()

    def current(self) -> bool:
        """Whether it shows the ``/etc`` copy runs are shown now."""
        etc = self.sandbox.etc
        return etc is None or self.etc == etc.current()

    def hand(self, argv: Sequence[str], cwd: Path, *, env_fd: int, stdin_fd: int, stdout_fd: int) -> subprocess.Popen:
        """Send the run; the process to supervise (its stderr is the run's stderr pipe). OSError if the
        sandbox could not take it."""
        data = b"".join(os.fsencode(part) + b"\0" for part in (str(cwd), *argv))
        if len(data) > MAX_MESSAGE:
            raise OSError(f"the run's arguments are too long for a prepared sandbox ({len(data)} bytes)")
        fds = array.array("i", [stdin_fd, stdout_fd, env_fd])
        self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        self.handed = True
        self.sock.close()
        return self.proc

    def done(self) -> None:
        """After its run (or instead of it): the ``/etc`` copy is released; unused, the sandbox is let go
        and its cgroup given back. The process of a run that was handed over is its supervisor's."""
        if self._done:
            return
        self._done = True
        if not self.handed:
            self.sock.close()
            # Nothing of any run is in it: ended at once (a waiting interpreter would read the end of
            # file only once it has started, and this may be on a run's way).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            if self.cgroup is not None and self.sandbox.cgroups is not None:
                self.sandbox.cgroups.give(self.cgroup)
        if self.etc is not None and self.sandbox.etc is not None:
            self.sandbox.etc.release(self.etc)


_WAITING_PYTHON = (Path(__file__).with_name("warm_python.py")).read_text()


def start(sandbox: Sandbox, launcher: Path, workspace: Path, spec: WarmSpec, *, python: bool = False) -> WarmSandbox:
    """A sandbox for the next run in ``workspace``, built as a run with ``spec`` would build it; with
    ``python`` (and a Python app), with its interpreter started too (``warm_python``)."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    etc = sandbox.etc.hold() if sandbox.etc is not None else None
    cgroup = None
    env_fd = None
    try:
        if python and spec.python is not None and sandbox.uid is not None:
            # The interpreter starts as the run's would (the same uid, the same start-up environment),
            # then waits for the run itself.
            env_fd = os.memfd_create("runyard-env", os.MFD_CLOEXEC)
            env = base_env(workspace, Path(spec.python).parent)
            os.write(env_fd, b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items()))
            os.lseek(env_fd, 0, os.SEEK_SET)
            inner = [str(launcher), *sandbox.switch_args(), "-E", str(env_fd), "--",
                     spec.python, "-c", _WAITING_PYTHON, str(child.fileno()), spec.python]
        else:
            inner = [str(launcher), "-S", str(child.fileno()), *sandbox.switch_args(), "--"]
        command = sandbox.command(inner, cwd=workspace, rw=[workspace], ro=[Path(p) for p in spec.ro],
                                  network=spec.network, etc=etc, switched=True, tmp_bytes=spec.tmp_bytes)
        cgroup = sandbox.cgroups.take(spec.limits) if sandbox.cgroups is not None else None
        own = self_limits(spec.limits, cgroup, max_output_bytes=spec.max_output_bytes,
                          address_space_headroom_mb=spec.address_space_headroom_mb)
        proc = subprocess.Popen([str(launcher), *own.launcher_args(), *command], cwd=workspace,
                                env={"PATH": SAFE_PATH}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                                pass_fds=(child.fileno(),) if env_fd is None else (child.fileno(), env_fd))
    except BaseException:
        parent.close()
        if cgroup is not None and sandbox.cgroups is not None:
            sandbox.cgroups.give(cgroup)
        if etc is not None and sandbox.etc is not None:
            sandbox.etc.release(etc)
        raise
    finally:
        child.close()
        if env_fd is not None:
            os.close(env_fd)
    return WarmSandbox(proc=proc, sock=parent, cgroup=cgroup, etc=etc, spec=spec, workspace=workspace, sandbox=sandbox)


class Warmer:
    """The thread that starts sandboxes ahead (one at a time, in the order asked). When it has had
    nothing to do for ``idle_seconds``, it calls ``on_idle`` (the pool's check for waiting sandboxes
    whose ``/etc`` copy was superseded)."""

    def __init__(self, sandbox: Sandbox, launcher: Path, idle_seconds: float = 1.0, *, python: bool = False) -> None:
        self.sandbox, self.launcher, self.idle_seconds = sandbox, launcher, idle_seconds
        self.python = python  # Python apps' interpreters started ahead as well
        self.on_idle: Callable[[], None] | None = None
        self._queue: queue.SimpleQueue[tuple[Path, WarmSpec, Callable[[WarmSandbox | None], None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="runyard-sandbox-warmer", daemon=True)
        self._thread.start()

    def request(self, workspace: Path, spec: WarmSpec, deliver: Callable[[WarmSandbox | None], None]) -> None:
        """Start one for ``workspace``; ``deliver`` gets it (None if it could not be started)."""
        self._queue.put((workspace, spec, deliver))

    def _serve(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                if self.on_idle is not None:
                    try:
                        self.on_idle()
                    except Exception:  # noqa: BLE001
                        log.exception("checking the sandboxes started ahead failed")
                continue
            if item is None:
                return
            workspace, spec, deliver = item
            warm = None
            try:
                warm = start(self.sandbox, self.launcher, workspace, spec, python=self.python)
            except Exception:  # noqa: BLE001 - the next run starts its own sandbox
                log.warning("could not start a sandbox ahead for %s", workspace, exc_info=True)
            try:
                deliver(warm)
            except Exception:  # noqa: BLE001
                log.exception("handing over a sandbox started ahead failed")
                if warm is not None:
                    warm.done()

    def stop(self) -> None:
        self._queue.put(None)

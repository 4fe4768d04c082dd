"""Launch one app process and own its whole process tree until every member is gone.

The process runs in its own session (so its group id is its pid); cancel, deadline, a limit or any
exception in here ends the run with SIGTERM, a grace period, then SIGKILL. In a sandbox (the usual
case) the leader is bubblewrap and the app lives in its PID namespace, which the kernel empties when
bwrap's init dies: nothing of the run survives, whatever it did to its session or environment.
Unsandboxed, the group is killed again once the leader has exited, before the leader is reaped, so
orphaned grandchildren that stayed in the group die too.
"""

from __future__ import annotations

import math
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from runyard.execution.runtime.sandbox import RunCgroup, SelfLimits, descendants, workspace_size

if TYPE_CHECKING:
    from runyard.execution.runtime.warm import WarmSandbox

LineSink = Callable[[str], None]
_MAX_LINE = 64 * 1024  # longer "lines" are split, so a newline-free flood cannot exhaust memory
_READ_SIZE = 64 * 1024
_DRAIN_SECONDS = 2.0  # a grandchild that escaped the group may hold a pipe open; don't wait forever


@dataclass(frozen=True)
class ProcessSpec:
    """What to run and under which limits. ``deadline`` is an absolute ``time.monotonic()`` value."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    stdin_path: Path | None = None
    stdout_path: Path | None = None      # where stdout is kept; with on_stdout_line it is also streamed
    pass_fds: tuple[int, ...] = ()       # descriptors the process inherits (the sandbox's environment)
    deadline: float | None = None
    max_output_bytes: int | None = None  # stdout bytes; also caps each streamed channel
    # What the first process sets on itself (cgroups joined, rlimits) before it executes ``argv``: done
    # by the ``limit_exec`` program when there is one (so CPython can start the process with vfork
    # instead of copying the server's page tables with fork), else by a ``preexec_fn``.
    limits: SelfLimits = field(default_factory=SelfLimits)
    limit_exec: Path | None = None
    # ``argv`` is a bubblewrap command: the app runs in its own PID namespace below it, which ends
    # with it. Stopping the run signals the namespace's processes, then kills bwrap.
    sandboxed: bool = False
    cgroup: RunCgroup | None = None      # the run's cgroup, for CPU time and which limit was hit
    cpu_seconds: float | None = None     # CPU time of the whole run, checked with the cgroup
    workspace: Path | None = None        # its size is checked every WORKSPACE_CHECK_SECONDS …
    workspace_max_bytes: int | None = None  # … against this
    poll_interval: float = 0.1
    kill_grace: float = 0.5


@dataclass
class ProcessOutcome:
    exit_code: int | None
    canceled: bool = False
    deadline_hit: bool = False
    output_exceeded: bool = False
    limit: str | None = None  # a limit of the execution class that ended the run (see LIMIT_NAMES)
    duration_ms: float = 0.0
    pid: int | None = None


WORKSPACE_CHECK_SECONDS = 2.0
_SIGNAL_LIMITS = {128 + signal.SIGXCPU: "cpu", 128 + signal.SIGXFSZ: "file_size",
                  -signal.SIGXCPU: "cpu", -signal.SIGXFSZ: "file_size"}


def _launch(spec: ProcessSpec) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to execute and the preexec hook (None when none is needed) that apply ``spec.limits``."""
    argv = list(spec.argv)
    if not spec.limits:
        return argv, None
    if spec.limit_exec is not None:
        return [str(spec.limit_exec), *spec.limits.launcher_args(), *argv], None
    return argv, spec.limits.apply  # in the child between fork and exec: only writes and setrlimit


class _Channel:
    """One of the app's pipes, read by the supervising thread (no thread per pipe): split into lines of
    at most ``_MAX_LINE`` bytes (utf-8, undecodable bytes replaced), counted for the output cap, and
    optionally teed raw into a file. A failing sink is dropped; the pipe is still drained, since a full
    pipe would block the app."""

    def __init__(self, pipe: BinaryIO, sink: LineSink | None, copy: BinaryIO | None) -> None:
        self.sink, self.copy = sink, copy
        self.fd = pipe.fileno()  # the pipe object itself is closed by run_process
        os.set_blocking(self.fd, False)
        self.count = 0
        self._pending = b""

    def read(self) -> bool:
        """Take what the pipe has; False at end of file (every writer is gone)."""
        try:
            chunk = os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return True
        if not chunk:
            if self._pending:
                self._emit(self._pending)
                self._pending = b""
            return False
        self.count += len(chunk)
        if self.copy is not None:
            self.copy.write(chunk)
        if self.sink is not None:
            self._split(self._pending + chunk)
        return True

    def _split(self, data: bytes) -> None:
        start = 0
        while True:
            newline = data.find(b"\n", start, start + _MAX_LINE)
            if newline >= 0:
                self._emit(data[start:newline + 1])
                start = newline + 1
            elif len(data) - start >= _MAX_LINE:
                self._emit(data[start:start + _MAX_LINE])
                start += _MAX_LINE
            else:
                break
        self._pending = data[start:]

    def _emit(self, line: bytes) -> None:
        if self.sink is None:
            return
        try:
            self.sink(line.decode("utf-8", errors="replace").rstrip("\r\n"))
        except Exception:  # noqa: BLE001 - a broken log sink must not stall the app
            self.sink, self._pending = None, b""


def _channels(proc: subprocess.Popen, on_stdout_line: LineSink | None, on_stderr_line: LineSink,
              stdout_copy: BinaryIO | None) -> list[_Channel]:
    channels = []
    if proc.stdout is not None:
        channels.append(_Channel(proc.stdout, on_stdout_line, stdout_copy))
    if proc.stderr is not None:
        channels.append(_Channel(proc.stderr, on_stderr_line, None))
    return channels


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited, without reaping it (WNOWAIT keeps the pid, hence the group id, ours)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None and info.si_pid == pid


class _ExitWatch:
    """Waits for our (unreaped) child to exit while reading its pipes, all in the calling thread. On
    Linux a pidfd is polled with the pipes: the wait blocks in the kernel and returns the moment the
    process exits. Elsewhere the poll wakes every 5 ms to look."""

    def __init__(self, pid: int, channels: list[_Channel]) -> None:
        self.pid = pid
        self._poller = select.poll()
        self._live = {ch.fd: ch for ch in channels}
        for fd in self._live:
            self._poller.register(fd, select.POLLIN)
        self._fd: int | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # not Linux ≥ 5.3
            return
        self._poller.register(self._fd, select.POLLIN)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the exit, reading the pipes meanwhile; True once it exited."""
        end = time.monotonic() + timeout
        while not _exited(self.pid):
            left = end - time.monotonic()
            if left <= 0:
                return False
            if self._fd is None:
                left = min(left, 0.005)  # how soon a finished run is noticed
            self._serve(left)
        return True

    def drain(self, seconds: float) -> None:
        """Read the pipes to end of file, for at most ``seconds`` (a process that left the group may hold one)."""
        if self._fd is not None:
            self._poller.unregister(self._fd)
            os.close(self._fd)
            self._fd = None
        end = time.monotonic() + seconds
        while self._live and (left := end - time.monotonic()) > 0:
            self._serve(left)

    def _serve(self, seconds: float) -> None:
        for fd, _ in self._poller.poll(max(1, math.ceil(seconds * 1000))):
            channel = self._live.get(fd)
            if channel is not None and not channel.read():
                self._poller.unregister(fd)
                del self._live[fd]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _terminate(watch: _ExitWatch, spec: ProcessSpec) -> None:
    """SIGTERM the run's processes, give them ``kill_grace`` seconds, then SIGKILL what is left. In a
    sandbox the signal goes to every process of its PID namespace (bwrap's descendants), and the kill
    to bwrap: its init dies with it, and the kernel ends the namespace's processes with their init."""
    if spec.sandboxed:
        for pid in descendants(watch.pid):
            _signal_pid(pid, signal.SIGTERM)
    else:
        _signal_group(watch.pid, signal.SIGTERM)
    watch.wait(spec.kill_grace)
    _signal_group(watch.pid, signal.SIGKILL)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _output_size(stdout_file: BinaryIO | None, channels: list[_Channel]) -> int:
    file_size = os.fstat(stdout_file.fileno()).st_size if stdout_file is not None else 0
    return max([file_size, *(ch.count for ch in channels)])


class _Limits:
    """The checks made every poll: cancel, deadline, output size, and the class's CPU time and workspace size."""

    def __init__(self, spec: ProcessSpec, should_cancel: Callable[[], bool]) -> None:
        self.spec, self.should_cancel = spec, should_cancel
        self._next_workspace_check = time.monotonic() + spec.poll_interval * 5

    def stop_reason(self, size: int) -> tuple[str, str | None] | None:
        """(outcome attribute, limit name) of a reason to stop, or None."""
        spec = self.spec
        if self.should_cancel():
            return "canceled", None
        now = time.monotonic()
        if spec.deadline is not None and now >= spec.deadline:
            return "deadline_hit", None
        if spec.max_output_bytes is not None and size > spec.max_output_bytes:
            return "output_exceeded", None
        if spec.cpu_seconds is not None and spec.cgroup is not None and spec.cgroup.cpu_seconds() > spec.cpu_seconds:
            return "limit", "cpu"
        if spec.workspace is not None and spec.workspace_max_bytes is not None and now >= self._next_workspace_check:
            self._next_workspace_check = now + WORKSPACE_CHECK_SECONDS
            if workspace_size(spec.workspace, spec.workspace_max_bytes) > spec.workspace_max_bytes:
                return "limit", "workspace"
        return None


def _supervise(
    watch: _ExitWatch, spec: ProcessSpec, stdout_file: BinaryIO | None,
    channels: list[_Channel], should_cancel: Callable[[], bool], outcome: ProcessOutcome,
) -> None:
    """Check the limits every ``poll_interval`` until the leader exits or a limit ends the run."""
    checks = _Limits(spec, should_cancel)
    while not _exited(watch.pid):
        reason = checks.stop_reason(_output_size(stdout_file, channels))
        if reason is not None:
            attribute, limit = reason
            setattr(outcome, attribute, limit if attribute == "limit" else True)
            _terminate(watch, spec)
            watch.wait(max(spec.kill_grace, 5.0))
            break
        watch.wait(spec.poll_interval)


def _limit_after(spec: ProcessSpec, outcome: ProcessOutcome) -> str | None:
    """The limit that ended a run the kernel stopped (the cgroup knows; else the signal tells)."""
    if outcome.limit is not None:
        return outcome.limit
    if spec.cgroup is not None:
        hit = spec.cgroup.limit_hit()
        if hit is not None:
            return hit
    by_signal = _SIGNAL_LIMITS.get(outcome.exit_code) if outcome.exit_code is not None else None
    applied = {name for name, _ in spec.limits.rlimits}
    if by_signal is not None and {"cpu": "cpu", "file_size": "fsize"}[by_signal] in applied:
        return by_signal
    if (outcome.exit_code not in (0, None) and spec.workspace is not None and spec.workspace_max_bytes is not None
            and workspace_size(spec.workspace, spec.workspace_max_bytes) > spec.workspace_max_bytes):
        return "workspace"  # a failed write (the app's own error) past the limit, between two checks
    return None


def _open_stdin(spec: ProcessSpec) -> BinaryIO | int:
    return spec.stdin_path.open("rb") if spec.stdin_path is not None else subprocess.DEVNULL


def run_process(
    spec: ProcessSpec,
    *,
    on_stderr_line: LineSink,
    on_stdout_line: LineSink | None = None,
    should_cancel: Callable[[], bool] = lambda: False,
    warm: WarmSandbox | None = None,
) -> ProcessOutcome:
    """Run ``spec.argv`` to completion under its limits; stderr (and streamed stdout) go to the sinks.
    With ``warm``, a sandbox started ahead (``spec.sandboxed``) is handed ``spec.argv`` and executes it:
    ``spec.pass_fds`` is then the environment's descriptor alone."""
    stdin = _open_stdin(spec)
    stdout_file = spec.stdout_path.open("wb") if spec.stdout_path is not None else None
    # With a line sink stdout goes through a pipe (teed into the file if there is one); else straight to the file.
    direct = stdout_file is not None and on_stdout_line is None
    started = time.monotonic()
    try:
        proc = _hand(warm, spec, stdin, stdout_file if direct else None) if warm is not None else _popen(
            spec, stdin, stdout_file if direct else None)
    except BaseException:
        _close(stdin, stdout_file)
        raise
    outcome = ProcessOutcome(exit_code=None, pid=proc.pid)
    channels = _channels(proc, on_stdout_line, on_stderr_line, None if direct else stdout_file)
    watch = _ExitWatch(proc.pid, channels)
    try:
        _supervise(watch, spec, stdout_file if direct else None, channels, should_cancel, outcome)
    finally:
        # Normal exit, limit hit or an exception in here: end every straggler in the group (the leader
        # is not reaped yet, so its pid still names our group), then reap. Negative codes are signals.
        _signal_group(proc.pid, signal.SIGKILL)
        outcome.exit_code = proc.wait()
        outcome.duration_ms = (time.monotonic() - started) * 1000.0
        try:
            watch.drain(_DRAIN_SECONDS)
            size = _output_size(stdout_file if direct else None, channels)
            if spec.max_output_bytes is not None and size > spec.max_output_bytes:
                outcome.output_exceeded = True
            outcome.limit = _limit_after(spec, outcome)
        finally:
            watch.close()
            _close(stdin, stdout_file, proc.stdout, proc.stderr)
    return outcome


def _popen(spec: ProcessSpec, stdin: BinaryIO | int, stdout_file: BinaryIO | None) -> subprocess.Popen:
    argv, preexec = _launch(spec)
    return subprocess.Popen(
        argv, cwd=spec.cwd, env=dict(spec.env), stdin=stdin,
        stdout=stdout_file if stdout_file is not None else subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True, close_fds=True, preexec_fn=preexec, pass_fds=spec.pass_fds,
    )


def _hand(warm: WarmSandbox, spec: ProcessSpec, stdin: BinaryIO | int, stdout_file: BinaryIO | None) -> subprocess.Popen:
    """The run handed to a sandbox started ahead: its stdin and stdout (the file, or a pipe read here)
    travel with it; its stderr is the pipe the sandbox was started with."""
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) if isinstance(stdin, int) else None
    read_end = write_end = None
    try:
        if stdout_file is None:
            read_end, write_end = os.pipe()
        proc = warm.hand(spec.argv, spec.cwd, env_fd=spec.pass_fds[0],
                         stdin_fd=null if null is not None else stdin.fileno(),  # type: ignore[union-attr]
                         stdout_fd=write_end if write_end is not None else stdout_file.fileno())  # type: ignore[union-attr]
    except BaseException:
        if read_end is not None:
            os.close(read_end)
        raise
    finally:
        for fd in (null, write_end):
            if fd is not None:
                os.close(fd)
    if read_end is not None:
        proc.stdout = os.fdopen(read_end, "rb", buffering=0)
    return proc


def _close(*handles: object) -> None:
    for handle in handles:
        if hasattr(handle, "close"):
            handle.close()  # type: ignore[union-attr]

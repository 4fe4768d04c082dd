"""The runner: one run from manifest to report. Every executor backend calls :func:`execute`.

Infrastructure failures (environment build, unsafe input archive, missing entrypoint, …) become
``LocalReport.error`` with the same message in the run log: nothing escapes, so a backend never has
to interpret exception types to decide a run's status.

Layout under ``work_root``: ``<run>-xxxx/ws`` is the workspace (HOME and TMPDIR; ``app/`` is the app
copy), removed at the end; ``<run>-xxxx`` itself keeps stdout and the output archive, outside the
workspace. ``LocalReport.artifacts_dir`` names ``<run>-xxxx`` (None when the workspace is kept, which
keeps them too): the caller deletes it once it stored the output. Every directory and file made per
run costs an inode allocation, so there are as few as the isolation needs.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import re
import secrets
import shlex
import shutil
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from runyard.domain.errors import RunyardError
from runyard.domain.manifest import Manifest, parse_manifest, with_output_format
from runyard.domain.memo import Memo
from runyard.domain.options import render_options
from runyard.execution import stages
from runyard.execution.contract import Limits
from runyard.execution.runtime.collect import (
    ARCHIVE_FORMATS,
    LEFT_BEHIND_DIRS,
    collect,
    input_dir,
    place_input,
    snapshot,
)
from runyard.execution.runtime.envs import EnvironmentBuilder, EnvironmentBuildError
from runyard.execution.runtime.orphans import kill_execution_processes, run_dir_prefix
from runyard.execution.runtime.process import ProcessSpec, run_process
from runyard.execution.runtime.redact import Redactor
from runyard.execution.runtime.sandbox import RunCgroup, Sandbox, hand_over, self_limits
from runyard.execution.runtime.spares import WORKSPACE_DIR_NAME, Spare, WorkspacePool, record
from runyard.execution.runtime.types import LocalReport, RunContext, RunTask
from runyard.execution.runtime.warm import WarmSandbox, WarmSpec
from runyard.execution.runtime.workspace import (
    APP_DIR_NAME,
    SAFE_PATH,
    WorkspaceError,
    entrypoint_path,
    prepare_workspace,
    run_cwd,
    same_as_bundle,
    scrubbed_env,
    write_file_secrets,
)
from runyard.storage.archives import ArchiveLimits

TAIL_BYTES = 4096
ARCHIVE_INPUTS = ("multi-file", "csv-archive")
TMP_MAX_BYTES = 256 * 1024**2  # a run's private /tmp (memory-backed); its workspace is its HOME and TMPDIR
# How a launcher in front of the app says the app's program did not execute (a binary built for
# another CPU, a missing interpreter): limit-exec, bubblewrap, setpriv.
_EXEC_FAILED = re.compile(r"^(?:limit-exec: cannot execute|bwrap: execvp|setpriv: failed to execute) (\S+?):? (.+)$")
_SCAN_ALL = -1  # in LocalReport.pending_cleanup: look at every process for leftovers
STDOUT_FILE = "stdout"


class _Tail:
    """The last ``limit`` bytes (roughly) of a line stream, for ``error_log``."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self._lines: collections.deque[str] = collections.deque()
        self._size = 0
        self._limit = limit

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > self._limit and len(self._lines) > 1:
            self._size -= len(self._lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self._lines)[-self._limit :]


def _file_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - limit))
        return fh.read().decode("utf-8", errors="replace")


def _describe(exc: Exception) -> str:
    """A message a user can act on; the class name only for unexpected (internal) failures."""
    if isinstance(exc, RunyardError):
        return exc.message
    if isinstance(exc, EnvironmentBuildError | WorkspaceError):
        return str(exc)
    return f"internal error while executing the run: {type(exc).__name__}: {exc}"


# A JVM reserves address space it never touches (1 GiB of compressed class space, 240 MiB of code
# cache, a stack and a malloc arena per thread), so an address-space cap of a class's memory_mb stops
# it before main() (measured with OpenJDK 17: 1024 MiB fails, 1024 + 2048 starts). Where memory is
# capped by rlimit rather than a cgroup, Java apps get this much more address space, and their heap is
# sized from memory_mb (``-XX:MaxRAM``), which the JVM itself enforces.
JVM_ADDRESS_SPACE_HEADROOM_MB = 2048


def _launcher(manifest: Manifest, app_dir: Path, python: Path | None, bundle_dir: Path | None = None,
              memory_mb: int | None = None) -> list[str]:
    """The launch command by app type (contract §2.2), before options."""
    entry = entrypoint_path(app_dir, manifest, bundle_dir)
    if manifest.type == "python":
        if python is None:
            raise WorkspaceError("python apps need a Python environment")
        return [str(python), str(entry)]
    if manifest.type == "java":
        java = shutil.which("java", path=SAFE_PATH)
        if java is None:
            raise WorkspaceError("java apps need a Java runtime, and none is installed on this worker")
        heap = [f"-XX:MaxRAM={int(memory_mb)}m"] if memory_mb else []  # = the cgroup's limit where there is one
        return [java, "-XX:MaxRAMPercentage=90", *heap, "-jar", str(entry)]
    # go / binary: our copy may have lost the exec bit in transit; the owner bit is all it needs.
    entry.chmod(entry.stat().st_mode | stat.S_IXUSR)
    return [str(entry)]


def command_argv(manifest: Manifest, app_dir: Path, python: Path | None, options: Mapping[str, str],
                 bundle_dir: Path | None = None, memory_mb: int | None = None) -> list[str]:
    """Full argv: the launcher, then the options rendered with the manifest's template (default ``-name value``).
    ``bundle_dir``, what ``app_dir`` was copied from, lets paths be checked once per bundle."""
    template = manifest.configuration.options.format if manifest.configuration.options else None
    return _launcher(manifest, app_dir, python, bundle_dir, memory_mb) + render_options(options, template)


_manifests: Memo[str, Manifest] = Memo(256)  # by the manifest's JSON: every run of a version has the same


def _parse(manifest: dict, key: str) -> Manifest:
    parsed = _manifests.get(key)
    if parsed is not None:
        return parsed
    try:
        return _manifests.remember(key, parse_manifest(manifest))
    except RunyardError as exc:
        raise WorkspaceError(f"invalid manifest: {exc.message}") from None


class _Run:
    """State of one execution; methods are the pipeline's steps in order."""

    def __init__(self, task: RunTask, ctx: RunContext, run_dir: Path, pool: WorkspacePool | None = None,
                 sandbox: Sandbox | None = None) -> None:
        self.task, self.ctx, self.run_dir, self.pool, self.sandbox = task, ctx, run_dir, pool, sandbox
        self.redact = Redactor.of(task.env, task.files)
        self.cgroup: RunCgroup | None = None
        self.manifest_key = json.dumps(task.manifest, sort_keys=True)
        self.workspace = run_dir / WORKSPACE_DIR_NAME
        self.out_dir = run_dir  # stdout and the output archive, next to the workspace
        self.stderr_tail = _Tail()
        self.stdout_tail = _Tail()
        self.launched = False            # whether a process may have been started
        self.pid: int | None = None      # the app's process, once started
        self.spare: Spare | None = None  # the laid-out workspace, for the pool once the run ended
        self.limit_exec: Path | None = None  # the launcher that joins the cgroup and sets the rlimits
        self.python: Path | None = None
        self.warm_spec: WarmSpec | None = None  # what this run's sandbox is built from (sandboxes started ahead)
        self.warm: WarmSandbox | None = None    # a sandbox started ahead in the kept workspace, if one fits

    def move_to(self, run_dir: Path) -> None:
        self.run_dir, self.workspace, self.out_dir = run_dir, run_dir / WORKSPACE_DIR_NAME, run_dir

    def log(self, line: str) -> None:
        self.ctx.log(self.task.run_id, self.redact(line))

    def log_stderr(self, line: str) -> None:
        line = self.redact(line)
        self.stderr_tail.add(line)
        self.ctx.log(self.task.run_id, line)

    def log_stdout(self, line: str) -> None:
        line = self.redact(line)
        self.stdout_tail.add(line)
        self.ctx.log(self.task.run_id, line)

    def environment(self, manifest: Manifest, bundle: Path, envs: EnvironmentBuilder) -> Path | None:
        """The python to run with (None for non-Python apps), built or reused from the cache."""
        if manifest.type != "python":
            return None
        requirements = envs.requirements_for(bundle, manifest, self.log)
        if requirements:  # (an app without any has a log without this line)
            self.log(f"runyard: Python requirements: {', '.join(requirements)}")
        python = envs.ensure(requirements, self.log)
        return python

    def execute(self, envs: EnvironmentBuilder, poll_interval: float, kill_grace: float) -> LocalReport:
        task = self.task
        manifest = with_output_format(_parse(task.manifest, self.manifest_key), task.output_format)
        bundle = self.ctx.bundle_dir(task.bundle_id)
        python = self.python = self.environment(manifest, bundle, envs)
        self.limit_exec = envs.limit_exec()
        if self.ctx.cancel_requested(task.run_id):
            return LocalReport(canceled=True)
        self.warm_spec = self.sandbox_spec(manifest)
        app_dir = self.lay_out(bundle, manifest)
        cwd = run_cwd(app_dir, manifest, bundle)
        secret_files = write_file_secrets(app_dir, task.files)
        stdin = self.input(manifest, cwd)
        if self.sandbox is not None and self.sandbox.uid is not None:
            # What this run added (its input, its secrets) becomes the sandbox uid's, like the laid-out
            # app (handed over once, before a kept workspace's record is taken: that record holds it so).
            if task.input_format in ARCHIVE_INPUTS:
                target = input_dir(cwd, manifest, task.input_format)
                if target.exists():
                    hand_over(target, self.sandbox.uid, self.sandbox.gid)
            for path in secret_files:
                os.lchown(path, self.sandbox.uid, self.sandbox.gid)
        argv = command_argv(manifest, app_dir, python, task.options, bundle, memory_mb=_limits(task).memory_mb)
        env = scrubbed_env(task, task.app_id, task.run_id, workspace=self.workspace,
                           bin_dir=python.parent if python else None, execution_id=self.run_dir.name)
        # Archive outputs are "the files the run created or changed"; for the others only the folders
        # where files would be left behind unkept are recorded (so the log names only what the run wrote).
        before = snapshot(cwd) if manifest.content_format in ARCHIVE_FORMATS else snapshot(cwd, LEFT_BEHIND_DIRS)
        return self.launch(manifest, argv, cwd, env, stdin, before, poll_interval, kill_grace)

    def lay_out(self, bundle: Path, manifest: Manifest) -> Path:
        """The run directory with the workspace and its app copy: a kept one of the same executable
        (see ``spares``) or a fresh one. Returns the app directory."""
        key = f"{bundle}\n{self.manifest_key}"
        taken = self.pool.take(key, self.run_dir, self.warm_spec) if self.pool is not None else None
        if taken is not None:
            if taken.path != self.run_dir:  # left where it was kept: the sandbox waiting in it shows it there
                self.move_to(taken.path)
            self.warm = taken.warm
            self.spare = Spare(key, self.run_dir, taken.pristine)
            if taken.warm is not None and self.pool is not None and self.warm_spec is not None:
                # The next run of this executable should not wait for a sandbox started only when this
                # run gives its workspace back: one more is laid out meanwhile, with its own.
                self.pool.replenish(key, self.warm_spec, functools.partial(
                    lay_out_spare, bundle, manifest, _run_dir(self.run_dir.parent, self.task.run_id), key, self.sandbox))
            return self.workspace / APP_DIR_NAME
        app_dir, spare = _lay_out(bundle, manifest, self.run_dir, key, self.sandbox)
        if self.pool is not None:
            self.spare = spare
        return app_dir

    def sandbox_spec(self, manifest: Manifest) -> WarmSpec | None:
        """What this run's sandbox is built from besides its workspace (None: no sandbox, or none a
        launcher can be handed a run in)."""
        if self.sandbox is None or self.limit_exec is None:
            return None
        task, limits = self.task, _limits(self.task)
        manifest_network = manifest.runyard.network if manifest.runyard is not None else True
        return WarmSpec(ro=tuple(str(p) for p in [*self.read_only(), self.limit_exec]),
                        network=task.network and manifest_network,
                        tmp_bytes=min(limits.workspace_max_bytes or TMP_MAX_BYTES, TMP_MAX_BYTES), limits=limits,
                        max_output_bytes=task.max_output_bytes,
                        address_space_headroom_mb=JVM_ADDRESS_SPACE_HEADROOM_MB if manifest.type == "java" else 0,
                        python=str(self.python) if self.python is not None and self.sandbox.uid is not None else None)

    def input(self, manifest: Manifest, cwd: Path) -> Path | None:
        try:
            limits = ArchiveLimits(max_files=self.task.archive_max_files, max_bytes=self.task.archive_max_bytes)
            return place_input(self.ctx.input_path(self.task.run_id), cwd, manifest, self.task.input_format, limits)
        except RunyardError as exc:
            raise WorkspaceError(f"input rejected: {exc.message}") from None

    def launch(self, manifest: Manifest, argv: list[str], cwd: Path, env: dict[str, str],
               stdin: Path | None, before: dict, poll_interval: float, kill_grace: float) -> LocalReport:
        task = self.task
        stages.mark(task.run_id, "launch")
        streamed = manifest.content_format in ARCHIVE_FORMATS  # stdout is (also) a log channel there
        stdout_path = None if manifest.content_format == "multi-file" else self.out_dir / STDOUT_FILE
        self.ctx.mark_started(task.run_id)
        deadline = time.monotonic() + task.max_duration_seconds if task.max_duration_seconds else None
        limits = _limits(task)
        command, env_fd, etc = argv, None, None
        if self.warm is not None and self.warm.proc.poll() is not None:  # it ended meanwhile: a fresh one
            self.warm.done()
            self.warm = None
        try:
            if self.warm is not None:
                # A sandbox started ahead, built from this run's spec: it gets the run's own part (its
                # arguments, folder, stdio and environment) when the process starts.
                stages.mark(task.run_id, "prestarted")
                env_fd, _ = _environment_handover(env, self.limit_exec)
                env = {"PATH": SAFE_PATH}
                self.cgroup = self.warm.cgroup
            elif self.sandbox is not None:
                # The app's variables (secrets among them) reach it only inside the sandbox, through a
                # file descriptor: the privileged programs before it run with PATH alone. The launcher
                # there also switches to the sandbox uid (setpriv does where there is no launcher).
                switch = self.sandbox.switch_args() if self.limit_exec is not None else []
                env_fd, shim = _environment_handover(env, self.limit_exec, switch)
                manifest_network = manifest.runyard.network if manifest.runyard is not None else True
                ro = self.read_only() + ([self.limit_exec] if self.limit_exec is not None else [])
                etc = self.sandbox.etc.hold() if self.sandbox.etc is not None else None  # kept while it runs
                command = self.sandbox.command([*shim, *argv], cwd=cwd, rw=[self.workspace], ro=ro,
                                               network=task.network and manifest_network, etc=etc,
                                               switched=self.limit_exec is not None,
                                               tmp_bytes=min(limits.workspace_max_bytes or TMP_MAX_BYTES, TMP_MAX_BYTES))
                env = {"PATH": SAFE_PATH}
                if self.sandbox.cgroups is not None:
                    self.cgroup = self.sandbox.cgroups.take(limits)
            return self._start(task, manifest, command, cwd, env, env_fd, stdin, stdout_path, streamed, deadline,
                               limits, argv, before, poll_interval, kill_grace)
        finally:
            stages.mark(task.run_id, "exited")
            if self.warm is not None:
                if not self.warm.handed:
                    self.cgroup = None  # still the waiting sandbox's: given back with it
                self.warm.done()
            if env_fd is not None:
                os.close(env_fd)
            if etc is not None and self.sandbox is not None and self.sandbox.etc is not None:
                self.sandbox.etc.release(etc)

    def _start(self, task: RunTask, manifest: Manifest, command: list[str], cwd: Path, env: dict[str, str],
               env_fd: int | None, stdin: Path | None, stdout_path: Path | None, streamed: bool,
               deadline: float | None, limits: Limits, argv: list[str], before: dict, poll_interval: float,
               kill_grace: float) -> LocalReport:
        spec = ProcessSpec(argv=command, cwd=cwd, env=env, stdin_path=stdin, stdout_path=stdout_path,
                           pass_fds=(env_fd,) if env_fd is not None else (),
                           deadline=deadline, max_output_bytes=task.max_output_bytes,
                           limits=self_limits(limits, self.cgroup, max_output_bytes=task.max_output_bytes,
                                              address_space_headroom_mb=JVM_ADDRESS_SPACE_HEADROOM_MB
                                              if manifest.type == "java" else 0),
                           limit_exec=self.limit_exec, sandboxed=self.sandbox is not None, cgroup=self.cgroup,
                           cpu_seconds=limits.cpu_seconds, workspace=self.workspace,
                           workspace_max_bytes=limits.workspace_max_bytes,
                           poll_interval=poll_interval, kill_grace=kill_grace)
        self.launched = True
        try:
            outcome = run_process(spec, on_stderr_line=self.log_stderr,
                                  on_stdout_line=self.log_stdout if streamed else None,
                                  should_cancel=lambda: self.ctx.cancel_requested(task.run_id), warm=self.warm)
        except OSError as exc:  # e.g. a binary built for another architecture (GOARCH=arm64)
            raise WorkspaceError(f"could not start {Path(argv[0]).name}: {exc.strerror or exc}") from None
        self.pid = outcome.pid
        failed_exec = _exec_failure(self.stderr_tail.text()) if outcome.exit_code not in (0, None) else None
        if failed_exec is not None:
            raise WorkspaceError(failed_exec)
        stdout_tail = self.stdout_tail.text() if streamed else _file_tail(stdout_path) if stdout_path else ""
        report = LocalReport(
            exit_code=outcome.exit_code, canceled=outcome.canceled, deadline_hit=outcome.deadline_hit,
            output_exceeded=outcome.output_exceeded, execution_ms=outcome.duration_ms,
            stdout_tail=self.redact(stdout_tail), stderr_tail=self.stderr_tail.text(),
        )
        if outcome.limit is not None and not outcome.canceled and not outcome.deadline_hit and (
                outcome.limit != "processes" or outcome.exit_code != 0):
            report.error = limit_message(outcome.limit, limits)
            self.log(f"runyard: {report.error}")
        if outcome.output_exceeded:
            # Killed for flooding: the oversized stdout is neither parsed (that would load it into the
            # server's memory) nor kept as the run's output; the run fails on the size error.
            if stdout_path is not None:
                stdout_path.unlink(missing_ok=True)
            return report
        self.collect(report, manifest, cwd, stdout_path, before)
        return report

    def read_only(self) -> list[Path]:
        """What the sandbox shows read-only besides the system: a Python app's environment and the
        interpreter it was made from."""
        if self.python is None:
            return []
        env = self.python.parent.parent
        base = Path(os.path.realpath(self.python)).parent.parent
        return [env, base]

    def collect(self, report: LocalReport, manifest: Manifest, cwd: Path, stdout_path: Path | None,
                before: dict) -> None:
        """Fill the report's outputs; a collection failure is an error but keeps the exit status."""
        try:
            collected = collect(base=cwd, manifest=manifest, stdout_path=stdout_path, out_dir=self.out_dir,
                                before=before, log=self.log)
        except Exception as exc:  # noqa: BLE001
            report.error = f"collecting the run's output failed: {type(exc).__name__}: {exc}"
            _log_quietly(self, f"runyard: {report.error}")
            return
        report.output_path = collected.output_path
        report.statistics, report.metrics, report.assets = collected.statistics, collected.metrics, collected.assets


def _environment_handover(env: Mapping[str, str], launcher: Path | None,
                          switch: list[str] | None = None) -> tuple[int, list[str]]:
    """A file descriptor holding ``env``, and the command prefix that, inside the sandbox, makes it the
    app's environment: the launcher's ``-E`` (after ``switch``, its options that switch the uid), else
    a POSIX shell sourcing it."""
    fd = os.memfd_create("runyard-env", os.MFD_CLOEXEC)  # the child inherits it through pass_fds
    if launcher is not None:
        data = b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items() if "\0" not in k + v)
        prefix = [str(launcher), *(switch or []), "-E", str(fd), "--"]
    else:
        data = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if "\0" not in v).encode()
        prefix = ["/bin/sh", "-c", f'. /dev/fd/{fd} && exec "$@"', "sh"]
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd, prefix


def _limits(task: RunTask) -> Limits:
    """The task's limits, with the CPU time defaulting to its cores over its wall-clock limit."""
    limits = task.limits
    if limits.cpu_seconds is None and task.max_duration_seconds and limits.cores:
        return dataclasses.replace(limits, cpu_seconds=task.max_duration_seconds * limits.cores)
    return limits


def limit_message(limit: str, limits: Limits) -> str:
    """The run's error when a limit of its execution class ended it."""
    if limit == "memory":
        return f"the run exceeded its memory limit ({limits.memory_mb} MiB) and was stopped"
    if limit == "processes":
        return f"the run reached its process limit ({limits.max_processes} processes and threads)"
    if limit == "cpu":
        return f"the run used up its CPU time limit ({limits.cpu_seconds:g} s) and was stopped"
    if limit == "workspace":
        return f"the run's workspace exceeded its size limit ({_size(limits.workspace_max_bytes)}) and the run was stopped"
    if limit == "file_size":
        return f"the run wrote a file larger than its size limit ({_size(limits.file_max_bytes)}) and was stopped"
    return f"the run hit its {limit} limit"


def _size(value: int | None) -> str:
    if value is None:
        return "none"
    return f"{value / 1024**3:g} GiB" if value >= 1024**3 else f"{value / 1024**2:g} MiB"


def _exec_failure(stderr_tail: str) -> str | None:
    """"could not start PROGRAM: reason" when a launcher said the app's program did not execute."""
    for line in reversed(stderr_tail.splitlines()[-3:]):
        found = _EXEC_FAILED.match(line.strip())
        if found:
            return f"could not start {Path(found.group(1)).name}: {found.group(2)}"
    return None


def _run_dir(work_root: Path, run_id: str) -> Path:
    """This attempt's directory (made with the workspace): unique, named after the run."""
    return work_root / f"{run_dir_prefix(run_id)}-{secrets.token_hex(4)}"


def _lay_out(bundle: Path, manifest: Manifest, run_dir: Path, key: str, sandbox: Sandbox | None) -> tuple[Path, Spare]:
    """A fresh workspace in ``run_dir`` with the app's copy: its app directory, and what the pool keeps it as."""
    _make_dir(run_dir)
    workspace = run_dir / WORKSPACE_DIR_NAME
    workspace.mkdir()
    app_dir = prepare_workspace(bundle, workspace, manifest)
    if sandbox is not None and sandbox.uid is not None:
        hand_over(workspace, sandbox.uid, sandbox.gid)  # before its record: kept like this
    return app_dir, Spare(key, run_dir, record(run_dir), check=functools.partial(same_as_bundle, app_dir, bundle, manifest))


def lay_out_spare(bundle: Path, manifest: Manifest, run_dir: Path, key: str, sandbox: Sandbox | None) -> Spare:
    """A workspace laid out ahead, for the pool (removed again if that fails halfway)."""
    try:
        return _lay_out(bundle, manifest, run_dir, key, sandbox)[1]
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _make_dir(path: Path) -> None:
    """``path`` made readable by the owner only (as ``mkdtemp`` makes them), with its parents."""
    try:
        os.mkdir(path, 0o700)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)


def execute(
    task: RunTask,
    ctx: RunContext,
    *,
    envs: EnvironmentBuilder,
    work_root: Path,
    poll_interval: float = 0.1,
    kill_grace: float = 0.5,
    keep_workspace: bool = False,
    defer_cleanup: bool = False,
    pool: WorkspacePool | None = None,
    sandbox: Sandbox | None = None,
) -> LocalReport:
    """Execute ``task`` end to end and report; never raises for run or infrastructure failures.

    The app's process group is always gone on return. Ending stragglers that left the group and
    removing the workspace take a few milliseconds; with ``defer_cleanup`` they are left to
    :func:`cleanup`, which the caller runs after it has stored the result, so a waiting client
    does not wait for them. With a ``pool`` (and ``keep_workspace`` off), the workspace may be a kept
    one and may be kept again by :func:`cleanup`.
    """
    run = _Run(task, ctx, _run_dir(Path(work_root), task.run_id), None if keep_workspace else pool, sandbox)
    try:
        report = run.execute(envs, poll_interval, kill_grace)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the report's error
        message = run.redact(_describe(exc))
        _log_quietly(run, f"runyard: {message}")
        report = LocalReport(error=message, stderr_tail=run.stderr_tail.text())
    finally:
        if run.warm is not None:  # not started (the run failed before its process): let go
            run.warm.done()
    run_dir = run.run_dir  # (a kept workspace with a sandbox waiting in it stays where it was)
    # With keep_workspace nothing is deleted: the workspace (and the stdout next to it) is kept for debugging.
    report.artifacts_dir = None if keep_workspace else run_dir
    # Leftover processes: none if nothing was started, else those made since the app's process (or,
    # should the app's pid be unknown, every process is looked at).
    # (None in a sandbox: its PID namespace ended with it.)
    scan = None if not run.launched or sandbox is not None else run.pid if run.pid is not None else _SCAN_ALL
    report.pending_cleanup = (run_dir.name, None if keep_workspace else run.workspace, scan)
    report.cgroup = run.cgroup
    report.sandbox_cgroups = sandbox.cgroups if sandbox is not None else None
    report.spare = run.spare
    report.warm_spec = run.warm_spec
    if not defer_cleanup:
        cleanup(report)
    return report


def cleanup(report: LocalReport, *, artifacts: bool = False, pool: WorkspacePool | None = None) -> None:
    """End descendants that left the app's process group (setsid, double fork) and remove the workspace
    (with ``artifacts``, the artifacts directory too: the caller has stored what it needed from it).
    With ``artifacts`` and a ``pool``, the run directory is offered to the pool instead, unless a
    process of the run had to be killed here."""
    stragglers = False
    spare, report.spare = report.spare, None
    if report.pending_cleanup is not None:
        execution_id, workspace, scan = report.pending_cleanup
        report.pending_cleanup = None
        cgroup, report.cgroup = report.cgroup, None
        if cgroup is not None:  # a sandboxed run: its PID namespace is gone, the cgroup confirms it
            stragglers = bool(report.sandbox_cgroups.give(cgroup))
        elif scan is not None:
            stragglers = bool(kill_execution_processes(execution_id, first_pid=None if scan == _SCAN_ALL else scan))
        inside = artifacts and report.artifacts_dir is not None and workspace is not None and workspace.parent == report.artifacts_dir
        if workspace is not None and not inside:
            shutil.rmtree(workspace, ignore_errors=True)
            spare = None
    if artifacts and report.artifacts_dir is not None:
        kept = pool is not None and spare is not None and not stragglers and spare.path == report.artifacts_dir and pool.give(spare, report.warm_spec)
        if not kept:
            shutil.rmtree(report.artifacts_dir, ignore_errors=True)
        report.artifacts_dir = None


def _log_quietly(run: _Run, message: str) -> None:
    """Log the failure's first line (uv's output is already in the log); the report has it all."""
    try:
        run.log(message.splitlines()[0] if message else "runyard: run failed")
    except Exception:  # noqa: BLE001 - if even logging fails, the report still carries the message
        pass


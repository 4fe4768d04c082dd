"""run_process with real subprocesses: exit codes, live stderr, and every way of ending a process tree."""

from __future__ import annotations

import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runyard.execution.runtime.process import ProcessSpec, run_process
from runyard.execution.runtime.sandbox import SelfLimits

ENV = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}


def _spec(tmp_path: Path, code: str, **kw: object) -> ProcessSpec:
    kw.setdefault("stdout_path", tmp_path / "stdout")
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("kill_grace", 0.3)
    return ProcessSpec(argv=[sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=ENV, **kw)  # type: ignore[arg-type]


def _gone(pid: int) -> bool:
    """Dead: no /proc entry, or a zombie waiting for init (it runs nothing any more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


SPAWN_SLEEPER = """
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "1000"])
    print(f"child={child.pid}", file=sys.stderr, flush=True)
    time.sleep(60)
"""


def _child_pid(lines: list[str]) -> int:
    return int(next(line for line in lines if line.startswith("child=")).split("=")[1])


def test_exit_code_stdin_and_stdout_file(tmp_path: Path) -> None:
    (tmp_path / "in").write_text('{"x": 1}')
    spec = _spec(tmp_path, "import sys; data = sys.stdin.read(); print(data); sys.exit(3)", stdin_path=tmp_path / "in")
    outcome = run_process(spec, on_stderr_line=lambda line: None)
    assert outcome.exit_code == 3
    assert not (outcome.canceled or outcome.deadline_hit or outcome.output_exceeded)
    assert (tmp_path / "stdout").read_text() == '{"x": 1}\n'
    assert outcome.duration_ms > 0


def test_stderr_streams_live_and_in_order(tmp_path: Path) -> None:
    # The app waits until the test has *seen* its first line: only live streaming lets it finish.
    code = f"""
        import os, sys, time
        print("ready", file=sys.stderr, flush=True)
        while not os.path.exists({str(tmp_path / "ack")!r}):
            time.sleep(0.01)
        for i in range(500):
            print(f"line {{i}} \\u00e9", file=sys.stderr)
        sys.stderr.buffer.write(b"bad \\xff byte\\n")
    """
    lines: list[str] = []

    def sink(line: str) -> None:
        lines.append(line)
        if line == "ready":
            (tmp_path / "ack").touch()

    outcome = run_process(_spec(tmp_path, code, deadline=time.monotonic() + 30), on_stderr_line=sink)
    assert outcome.exit_code == 0 and not outcome.deadline_hit
    assert lines[0] == "ready"
    assert lines[1:501] == [f"line {i} é" for i in range(500)]
    assert lines[501] == "bad \ufffd byte"


def test_stdout_can_be_streamed_and_kept(tmp_path: Path) -> None:
    seen: list[str] = []
    outcome = run_process(
        _spec(tmp_path, "print('a'); print('b')"), on_stderr_line=lambda line: None, on_stdout_line=seen.append
    )
    assert outcome.exit_code == 0
    assert seen == ["a", "b"]
    assert (tmp_path / "stdout").read_text() == "a\nb\n"


def test_cancel_kills_grandchildren_within_a_second(tmp_path: Path) -> None:
    lines: list[str] = []
    cancel = threading.Event()

    def sink(line: str) -> None:
        lines.append(line)
        if line.startswith("child="):
            cancel.set()

    start = time.monotonic()
    outcome = run_process(
        _spec(tmp_path, SPAWN_SLEEPER, deadline=time.monotonic() + 30), on_stderr_line=sink, should_cancel=cancel.is_set
    )
    assert outcome.canceled and not outcome.deadline_hit
    assert outcome.exit_code == -signal.SIGTERM
    assert _wait_gone(_child_pid(lines), within=1.0)
    assert time.monotonic() - start < 10


def test_grandchildren_die_when_the_app_exits(tmp_path: Path) -> None:
    code = """
        import subprocess, sys
        child = subprocess.Popen(["sleep", "1000"])
        print(f"child={child.pid}", file=sys.stderr, flush=True)
    """
    lines: list[str] = []
    outcome = run_process(_spec(tmp_path, code), on_stderr_line=lines.append)
    assert outcome.exit_code == 0
    assert _wait_gone(_child_pid(lines), within=1.0)


def test_deadline_terminates_the_group(tmp_path: Path) -> None:
    lines: list[str] = []
    start = time.monotonic()
    outcome = run_process(_spec(tmp_path, SPAWN_SLEEPER, deadline=time.monotonic() + 1.0), on_stderr_line=lines.append)
    assert outcome.deadline_hit and not outcome.canceled
    assert 0.9 < time.monotonic() - start < 5
    assert _wait_gone(_child_pid(lines), within=1.0)


def test_term_ignoring_app_is_killed_after_grace(tmp_path: Path) -> None:
    code = """
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("armed", file=sys.stderr, flush=True)
        time.sleep(60)
    """
    armed = threading.Event()
    outcome = run_process(
        _spec(tmp_path, code, kill_grace=0.2),
        on_stderr_line=lambda line: armed.set() if line == "armed" else None,
        should_cancel=armed.is_set,
    )
    assert outcome.canceled
    assert outcome.exit_code == -signal.SIGKILL


def test_output_cap_kills(tmp_path: Path) -> None:
    code = """
        import sys
        chunk = "x" * 65536
        while True:
            sys.stdout.write(chunk)
    """
    outcome = run_process(
        _spec(tmp_path, code, max_output_bytes=1_000_000, deadline=time.monotonic() + 30), on_stderr_line=lambda line: None
    )
    assert outcome.output_exceeded and not outcome.deadline_hit
    assert outcome.exit_code is not None and outcome.exit_code < 0


def test_streamed_output_is_capped_too(tmp_path: Path) -> None:
    code = """
        import sys
        while True:
            print("y" * 1000, file=sys.stderr)
    """
    outcome = run_process(
        _spec(tmp_path, code, max_output_bytes=500_000, deadline=time.monotonic() + 30), on_stderr_line=lambda line: None
    )
    assert outcome.output_exceeded and not outcome.deadline_hit


def test_memory_cap(tmp_path: Path) -> None:
    code = """
        blob = bytearray(800 * 1024 * 1024)
        print("allocated")
    """
    lines: list[str] = []
    capped = SelfLimits(rlimits=(("as", 300 * 1024 * 1024),))
    outcome = run_process(_spec(tmp_path, code, limits=capped), on_stderr_line=lines.append)
    assert outcome.exit_code != 0
    assert any("MemoryError" in line for line in lines)
    uncapped = run_process(_spec(tmp_path, code), on_stderr_line=lambda line: None)
    assert uncapped.exit_code == 0


def test_exception_in_supervision_kills_the_group(tmp_path: Path) -> None:
    lines: list[str] = []

    def explode() -> bool:
        if any(line.startswith("child=") for line in lines):
            raise RuntimeError("database went away")
        return False

    with pytest.raises(RuntimeError, match="database went away"):
        run_process(_spec(tmp_path, SPAWN_SLEEPER, deadline=time.monotonic() + 30), on_stderr_line=lines.append, should_cancel=explode)
    assert _wait_gone(_child_pid(lines), within=1.0)


def test_failing_log_sink_does_not_stall_the_app(tmp_path: Path) -> None:
    def broken(line: str) -> None:
        raise OSError("log store down")

    code = """
        import sys
        for _ in range(20000):
            print("z" * 100, file=sys.stderr)
    """
    outcome = run_process(_spec(tmp_path, code, deadline=time.monotonic() + 30), on_stderr_line=broken)
    assert outcome.exit_code == 0 and not outcome.deadline_hit


def test_the_exit_is_noticed_without_waiting_out_the_check_interval(tmp_path: Path) -> None:
    """Limits are checked every ``poll_interval`` (here 5 s), yet a run that ends is seen to end at once
    (the supervisor waits on the process itself, not in sleeps)."""
    spec = _spec(tmp_path, "import time; time.sleep(0.2)", poll_interval=5.0)
    started = time.monotonic()
    outcome = run_process(spec, on_stderr_line=lambda line: None)
    assert outcome.exit_code == 0
    assert time.monotonic() - started < 2.5


def test_pipes_are_read_by_the_supervising_thread(tmp_path: Path) -> None:
    """No reader thread per pipe: the lines arrive on the thread that called run_process, in order."""
    seen: list[tuple[str, threading.Thread]] = []
    code = """
        import sys
        for i in range(3):
            print(f"line {i}", file=sys.stderr, flush=True)
            print(f"out {i}", flush=True)
    """
    before = threading.active_count()
    outcome = run_process(
        _spec(tmp_path, code),
        on_stderr_line=lambda line: seen.append((line, threading.current_thread())),
        on_stdout_line=lambda line: seen.append((line, threading.current_thread())),
    )
    assert outcome.exit_code == 0
    assert [line for line, _ in seen if line.startswith("line")] == ["line 0", "line 1", "line 2"]
    assert {thread for _, thread in seen} == {threading.current_thread()}
    assert threading.active_count() == before
    assert (tmp_path / "stdout").read_text() == "out 0\nout 1\nout 2\n"

"""The scan for an execution's leftover processes remembers processes that carry no run marker, and
forgets them when the pid counter wraps (a pid is reused only then)."""

from __future__ import annotations

from pathlib import Path

from runyard.execution.runtime.orphans import EXECUTION_ID_VAR, created_since, find_processes


def fake_proc(root: Path, last_pid: int, environs: dict[int, bytes]) -> Path:
    (root / "sys" / "kernel").mkdir(parents=True, exist_ok=True)
    (root / "sys" / "kernel" / "ns_last_pid").write_text(f"{last_pid}\n")
    for pid, environ in environs.items():
        (root / str(pid)).mkdir(exist_ok=True)
        (root / str(pid) / "environ").write_bytes(environ)
    return root


def marked(execution_id: str) -> bytes:
    return f"HOME=/x\0{EXECUTION_ID_VAR}={execution_id}\0PATH=/bin\0".encode()


def test_marked_processes_are_found_and_unmarked_ones_remembered(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path / "proc", 200, {100: b"HOME=/x\0", 101: marked("exec-a"), 102: marked("exec-b")})
    assert find_processes(EXECUTION_ID_VAR, ["exec-a"], proc, remember_unmarked=True) == {101: "exec-a"}
    # A run's process is never remembered: a later scan for its own execution still finds it.
    assert find_processes(EXECUTION_ID_VAR, ["exec-b"], proc, remember_unmarked=True) == {102: "exec-b"}
    # New processes are read; pid 100 is not read again (its environment cannot have changed).
    fake_proc(proc, 210, {100: marked("exec-c"), 150: marked("exec-c")})
    assert find_processes(EXECUTION_ID_VAR, ["exec-c"], proc, remember_unmarked=True) == {150: "exec-c"}
    # Without remembering, every process is read.
    assert find_processes(EXECUTION_ID_VAR, ["exec-c"], proc) == {100: "exec-c", 150: "exec-c"}


def test_a_wrapped_pid_counter_forgets_what_was_remembered(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path / "proc", 300, {100: b"HOME=/x\0"})
    assert find_processes(EXECUTION_ID_VAR, ["exec-d"], proc, remember_unmarked=True) == {}
    fake_proc(proc, 50, {100: marked("exec-d")})  # the counter went back: pid 100 may be a new process
    assert find_processes(EXECUTION_ID_VAR, ["exec-d"], proc, remember_unmarked=True) == {100: "exec-d"}


def test_unreadable_processes_are_not_read_again(tmp_path: Path) -> None:
    """A pid whose environment cannot be read (a kernel thread, another user's process: here a directory
    where the file should be) is no run's process; the next scans skip it instead of trying again."""
    proc = fake_proc(tmp_path / "proc", 400, {100: b"HOME=/x\0"})
    (proc / "101").mkdir()
    (proc / "101" / "environ").mkdir()  # opening it fails with an OSError, as EACCES/ESRCH do
    assert find_processes(EXECUTION_ID_VAR, ["exec-e"], proc, remember_unmarked=True) == {}
    (proc / "101" / "environ").rmdir()
    (proc / "101" / "environ").write_bytes(marked("exec-e"))  # were it read again, it would be found
    assert find_processes(EXECUTION_ID_VAR, ["exec-e"], proc, remember_unmarked=True) == {}


def test_after_a_run_only_processes_made_since_its_first_are_read(tmp_path: Path) -> None:
    """A run's descendants get their pids from the counter after its own process: the scan after the
    run probes those pids instead of listing every process, and falls back to the full scan when
    the counter has wrapped around or moved too far."""
    proc = fake_proc(tmp_path / "proc", 205, {100: marked("exec-f"), 203: marked("exec-f")})
    assert created_since(200, proc) == [200, 201, 202, 203, 204, 205]
    assert find_processes(EXECUTION_ID_VAR, ["exec-f"], proc, pids=created_since(200, proc)) == {203: "exec-f"}
    assert find_processes(EXECUTION_ID_VAR, ["exec-f"], proc) == {100: "exec-f", 203: "exec-f"}
    assert created_since(300, proc) is None  # the counter is behind the run's pid: it wrapped around
    fake_proc(proc, 200 + 10_000, {})
    assert created_since(200, proc) is None  # too many since: the full scan, which skips known pids

"""The execution class's memory cap holds for every way of starting a process (the built launcher,
the preexec hook), and the launcher joins cgroups and sets every rlimit it is given."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from runyard.execution.runtime import limit_exec
from runyard.execution.runtime.process import ProcessSpec, run_process
from runyard.execution.runtime.sandbox import SelfLimits

ALLOCATE = "import sys\ntry:\n    b = bytearray(400 * 1024 * 1024)\nexcept MemoryError:\n    sys.exit(42)\nprint('allocated')\n"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if limit_exec.compiler() is None:
        pytest.skip("no C compiler here: a preexec hook sets the limits")
    built = limit_exec.build(tmp_path_factory.mktemp("bin"))
    assert built is not None, "the launcher must build where there is a C compiler"
    return built


@pytest.mark.parametrize("way", ["limit-exec", "preexec"])
def test_an_allocation_above_the_cap_fails_and_below_it_works(tmp_path: Path, way: str, request: pytest.FixtureRequest) -> None:
    program = request.getfixturevalue("launcher") if way == "limit-exec" else None
    script = tmp_path / "alloc.py"
    script.write_text(ALLOCATE)
    lines: list[str] = []

    def run(memory_mb: int | None) -> int | None:
        spec = ProcessSpec(argv=[sys.executable, str(script)], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                           stdout_path=tmp_path / "out", limit_exec=program,
                           limits=SelfLimits(rlimits=(("as", memory_mb * 1024 * 1024),)) if memory_mb else SelfLimits())
        return run_process(spec, on_stderr_line=lines.append).exit_code

    assert run(200) == 42, lines
    assert run(2000) == 0, lines
    assert (tmp_path / "out").read_text().strip() == "allocated"
    assert run(None) == 0


def test_the_launcher_sets_both_limits_and_reports_its_own_failures(launcher: Path, tmp_path: Path) -> None:
    import subprocess

    shown = subprocess.run([str(launcher), "-r", f"as={300 * 1024 * 1024}", "-r", "nofile=77", "-r", "cpu=9", "--",
                            "/bin/sh", "-c", "ulimit -Sv; ulimit -Hv; ulimit -n; ulimit -t"],
                           capture_output=True, text=True, env={})
    assert shown.returncode == 0 and shown.stdout.split() == [str(300 * 1024)] * 2 + ["77", "9"]
    assert subprocess.run([str(launcher), "-r", "as=lots", "--", "/bin/true"], capture_output=True).returncode == 125
    assert subprocess.run([str(launcher), "-r", "bogus=1", "--", "/bin/true"], capture_output=True).returncode == 125
    assert subprocess.run([str(launcher), "/bin/true"], capture_output=True).returncode == 125  # no "--"
    unjoinable = subprocess.run([str(launcher), "-c", str(tmp_path / "nope" / "tasks"), "--", "/bin/true"],
                                capture_output=True, text=True)
    assert unjoinable.returncode == 125 and "cannot join the cgroup" in unjoinable.stderr
    missing = subprocess.run([str(launcher), "--", str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 127 and "cannot execute" in missing.stderr


def test_without_a_working_compiler_there_is_no_launcher(tmp_path: Path) -> None:
    assert limit_exec.build(tmp_path / "a", cc="/bin/false") is None
    assert not list((tmp_path / "a").iterdir())  # nothing half-built is left


STATUS_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")


def status_of(text: str) -> dict[str, list[str]]:
    """The privilege lines of a ``/proc/<pid>/status``, by name."""
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in STATUS_FIELDS:
            fields[name] = value.split()
    return fields


def assert_unprivileged(status: dict[str, list[str]], uid: int) -> None:
    """Nothing of root left: the uid and gid in every slot, no groups, no capability, no_new_privs."""
    assert status["Uid"] == [str(uid)] * 4 and status["Gid"] == [str(uid)] * 4, status
    assert status["Groups"] == [], status
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps][0], 16) == 0, (caps, status)
    assert status["NoNewPrivs"] == ["1"], status


def _need_root() -> None:
    """The launcher's switch of user is what a root server does; CI runs as root, so there it must run."""
    import os

    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs the suite as root: the launcher's switch of user must be tested there")
        pytest.skip("switching users needs root (the server runs sandboxed apps under their own uid only as root)")


def test_the_launcher_switches_to_a_user_with_no_privilege_left(launcher: Path) -> None:
    import subprocess

    _need_root()
    shown = subprocess.run([str(launcher), "-u", "61000:61000", "--", "/bin/cat", "/proc/self/status"],
                           capture_output=True, text=True, env={})
    assert shown.returncode == 0, shown.stderr
    assert_unprivileged(status_of(shown.stdout), 61000)
    for bad in ("0:61000", "61000:0", "61000", "x:1", "61000:61000x"):  # never root, nothing half-read
        refused = subprocess.run([str(launcher), "-u", bad, "--", "/bin/true"], capture_output=True, text=True)
        assert refused.returncode == 125 and "UID:GID" in refused.stderr, bad
    # A process that may not switch users is told so, and its program never runs.
    unable = subprocess.run(["setpriv", "--reuid=61001", "--regid=61001", "--clear-groups", str(launcher),
                             "-u", "61000:61000", "--", "/bin/echo", "ran"], capture_output=True, text=True)
    assert unable.returncode == 125 and "cannot switch to the sandbox user" in unable.stderr and "ran" not in unable.stdout


def test_without_a_compiler_the_sandbox_switches_the_uid_with_setpriv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no launcher can be built, util-linux setpriv switches the uid, as thoroughly."""
    import os
    import subprocess

    from runyard.execution.runtime.runner import _environment_handover
    from runyard.execution.runtime.sandbox import detect

    _need_root()
    monkeypatch.setenv("PATH", str(tmp_path / "no-compiler-here"))  # the machine has no cc, gcc or clang
    sandbox = detect(state_dir=tmp_path / "state")
    assert limit_exec.build(tmp_path / "state" / ".bin") is None and sandbox.setpriv is not None
    fd, shim = _environment_handover({"GREETING": "hello"}, None)
    try:
        command = sandbox.command([*shim, "/bin/sh", "-c", 'echo "$GREETING"; cat /proc/self/status'], cwd=Path("/"),
                                  rw=[], ro=[])
        shown = subprocess.run(command, capture_output=True, text=True, pass_fds=(fd,), env={"PATH": "/usr/bin:/bin"})
    finally:
        os.close(fd)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "hello"
    assert_unprivileged(status_of(shown.stdout), sandbox.uid or 0)


def test_a_launcher_started_ahead_waits_as_root_then_runs_what_it_is_handed(launcher: Path, tmp_path: Path) -> None:
    """``-S``: the launcher of a sandbox started ahead waits on its socket (still root: nothing of a run
    is there yet), then takes the run's folder, arguments, stdin, stdout and environment from one
    message, switches user and executes it. End of file instead exits 0 without executing anything."""
    import os
    import socket
    import subprocess

    _need_root()

    def waiting() -> tuple[subprocess.Popen, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = subprocess.Popen([str(launcher), "-S", str(theirs.fileno()), "-u", "61000:61000", "--"],
                                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env={})
        theirs.close()
        return proc, ours

    import shutil
    import tempfile

    outside = Path(tempfile.mkdtemp(prefix="runyard-launcher-"))  # (pytest's folders are root's alone)
    os.chmod(outside, 0o755)
    folder = outside / "ws"
    folder.mkdir(mode=0o700)
    os.chown(folder, 61000, 61000)
    try:
        _hand_over_and_let_go(launcher, waiting, folder, tmp_path)
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def _hand_over_and_let_go(launcher: Path, waiting: Any, folder: Path, tmp_path: Path) -> None:
    import array
    import os
    import socket
    import time

    proc, sock = waiting()
    time.sleep(0.2)
    assert proc.poll() is None and os.stat(f"/proc/{proc.pid}").st_uid == 0, "it waits, as root"
    env = os.memfd_create("env")
    os.write(env, b"GREETING=hello there\0")
    os.lseek(env, 0, os.SEEK_SET)
    stdin = tmp_path / "in"
    stdin.write_text("from stdin")
    read_end, write_end = os.pipe()
    script = 'echo "$GREETING|$(pwd)|$(id -u)|$(cat)"; cat /proc/self/status'
    with stdin.open("rb") as fh:
        data = b"\0".join([os.fsencode(folder), b"/bin/sh", b"-c", script.encode()]) + b"\0"
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fh.fileno(), write_end, env]))])
    os.close(write_end)
    os.close(env)
    sock.close()
    with os.fdopen(read_end, "rb") as out:
        shown = out.read().decode()
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    first, status = shown.split("\n", 1)
    assert first == f"hello there|{folder}|61000|from stdin"
    assert_unprivileged(status_of(status), 61000)

    # Let go unused: exits 0, executes nothing.
    proc, sock = waiting()
    sock.close()
    assert proc.wait(timeout=30) == 0 and proc.stderr.read() == b""
    # A message without descriptors is refused, and nothing runs.
    proc, sock = waiting()
    sock.send(b"/\0/bin/echo\0ran\0")
    sock.close()
    assert proc.wait(timeout=30) == 125 and b"not one this launcher reads" in proc.stderr.read()


REAPER = r'''
import os, subprocess, sys, time
from runyard.execution.runtime.sandbox import adopt_orphans, reap_sandbox_inits
assert adopt_orphans()
kept = subprocess.Popen(["/bin/sleep", "30"])  # a child some Popen waits for: never reaped by the sweep
for _ in range(3):
    subprocess.run([sys.argv[1], "--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/", "--", "/bin/true"], check=True)
def zombies():
    found = []
    for tid in os.listdir("/proc/self/task"):
        for child in open(f"/proc/self/task/{tid}/children").read().split():
            if open(f"/proc/{child}/status").read().split("State:\t")[1][0] == "Z":
                found.append(int(child))
    return found
end = time.monotonic() + 10
while len(zombies()) < 3 and time.monotonic() < end:
    time.sleep(0.01)
before = len(zombies())
reaped = reap_sandbox_inits()
kept.kill()
time.sleep(0.2)
print(before, reaped, len(zombies()), kept.wait())
'''


def test_a_server_reaps_the_inits_bubblewrap_leaves_to_it(tmp_path: Path) -> None:
    """bubblewrap's monitor exits without waiting for its sandbox's init, which a subreaper (``runyard
    serve``) then adopts: the server reaps those inits, and nothing else (a process a ``Popen`` waits for
    keeps its exit status)."""
    import os
    import shutil
    import subprocess

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs bubblewrap")
        pytest.skip("bubblewrap is not installed here")
    done = subprocess.run([sys.executable, "-c", REAPER, bwrap], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, reaped, after, kept_status = done.stdout.split()
    assert (before, reaped) == ("3", "3"), "three sandbox inits were left to the subreaper, and reaped"
    assert after == "1" and kept_status == "-9", "the Popen's own child was left to it (a zombie until it waits)"

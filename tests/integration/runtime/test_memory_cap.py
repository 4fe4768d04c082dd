"""The execution class's memory cap holds for every way of starting a process (the built launcher,
the preexec hook), and the launcher joins cgroups and sets every rlimit it is given."""

from __future__ import annotations

import sys
from pathlib import Path

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

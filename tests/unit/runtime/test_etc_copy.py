"""The sandbox's /etc copy: what it holds, how it follows the host, and that a copy a run may still
have bound (in this process or another) is never deleted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from runyard.execution.runtime.etc_copy import EtcCopy


def _host(tmp_path: Path) -> list[tuple[str, str]]:
    host = tmp_path / "host"
    (host / "conf.d").mkdir(parents=True)
    (host / "hosts").write_text("127.0.0.1 here\n")
    (host / "conf.d" / "a.conf").write_text("a")
    (host / "conf.d" / "link.conf").symlink_to("a.conf")
    (host / "top-link").symlink_to(host / "hosts")
    return [(str(host / "hosts"), "hosts"), (str(host / "conf.d"), "conf.d"), (str(host / "top-link"), "top-link"),
            (str(host / "missing"), "missing"), (str(host / "hosts"), "nested/hosts")]


def test_the_copy_holds_exactly_the_sources_links_and_modes_as_the_host_has_them(tmp_path: Path) -> None:
    sources = _host(tmp_path)
    (tmp_path / "host" / "conf.d").chmod(0o750)
    if os.geteuid() == 0:
        os.chown(tmp_path / "host" / "conf.d" / "a.conf", 61000, 61001)
    copy = EtcCopy(tmp_path / "state", sources).current()
    assert sorted(os.listdir(copy)) == ["conf.d", "hosts", "nested", "top-link"]
    assert (copy / "top-link").is_file() and not (copy / "top-link").is_symlink()  # followed, as a bind was
    assert os.readlink(copy / "conf.d" / "link.conf") == "a.conf"  # kept a link
    assert (copy / "nested" / "hosts").read_text() == "127.0.0.1 here\n"
    assert (copy / "conf.d").stat().st_mode & 0o777 == 0o750 and copy.stat().st_mode & 0o777 == 0o755
    if os.geteuid() == 0:
        st = (copy / "conf.d" / "a.conf").stat()
        assert (st.st_uid, st.st_gid) == (61000, 61001)
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700  # the copies are nobody else's to look into


def test_a_change_on_the_host_makes_a_new_copy_and_a_held_one_stays_until_released(tmp_path: Path) -> None:
    sources = _host(tmp_path)
    etc = EtcCopy(tmp_path / "state", sources, check_every=3600)
    held = etc.hold()
    assert not etc.refresh(), "nothing changed"
    (tmp_path / "host" / "conf.d" / "a.conf").write_text("changed")
    assert etc.refresh()
    fresh = etc.current()
    assert fresh != held and (fresh / "conf.d" / "a.conf").read_text() == "changed"
    assert (held / "conf.d" / "a.conf").read_text() == "a", "a run that has it bound keeps its files"
    etc.release(held)
    assert not held.exists() and fresh.exists()


def test_a_copy_another_process_holds_is_kept_and_one_of_an_ended_process_is_deleted(tmp_path: Path) -> None:
    sources = _host(tmp_path)
    state = tmp_path / "state"
    other = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from runyard.execution.runtime.etc_copy import EtcCopy
        print(EtcCopy(Path({str(state)!r}), {sources!r}).current(), flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = Path(other.stdout.readline().strip())
        assert theirs.is_dir()
        etc = EtcCopy(state, sources, check_every=3600)
        (tmp_path / "host" / "hosts").write_text("changed\n")
        assert etc.refresh()
        assert theirs.is_dir(), "held by a process that still runs"
    finally:
        other.communicate("", timeout=30)
    (tmp_path / "host" / "hosts").write_text("changed again\n")
    assert etc.refresh()
    assert not theirs.exists() and sorted(p.name for p in state.iterdir() if p.is_dir()) == [etc.current().name]


def test_a_held_copy_is_never_deleted_while_refreshes_race_with_runs(tmp_path: Path) -> None:
    import threading

    sources = _host(tmp_path)
    etc = EtcCopy(tmp_path / "state", sources, check_every=0)  # every run starts a check too
    stop = threading.Event()
    lost: list[Path] = []

    def runs() -> None:
        while not stop.is_set():
            path = etc.hold()
            if not (path / "conf.d" / "a.conf").exists():
                lost.append(path)
            etc.release(path)

    workers = [threading.Thread(target=runs) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for i in range(40):
            (tmp_path / "host" / "conf.d" / "a.conf").write_text(f"change {i}")
            etc.refresh()
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert not lost
    assert (etc.current() / "conf.d" / "a.conf").read_text() == "change 39"

"""The sandbox every run executes in: bubblewrap's namespaces, an unprivileged uid, and limits.

A run's processes see a root built for them alone: the system's programs and libraries read-only
(``/usr`` and the few ``/etc`` files programs read), the app's environment and interpreter read-only,
their workspace read-write, a private ``/tmp``, their own ``/proc`` and a minimal ``/dev``. The data
folder, the database, blobs, other runs' workspaces and the secrets key are simply not there.

- **Who runs it.** A server running as root starts ``bwrap`` privileged (it builds the mounts as
  root, so it can bind an interpreter under ``/root``), and the first thing inside is the launcher
  (``limit-exec -u``) switching to the sandbox uid with every capability dropped; where no launcher
  could be built, util-linux ``setpriv`` does it (one more program to start: about 1 ms a run). A
  server running as an ordinary user starts ``bwrap`` in a user namespace; the run is then its uid
  outside, and sees nothing of the machine but what is bound in.
- **/etc** is one read-only bind of a copy of the entries programs read (``etc_copy``), refreshed
  when the host's change.
- **Process tree.** ``--unshare-pid``: the app is a child of bubblewrap's init (pid 1 of a new PID
  namespace). When the app's main process exits, or bwrap is killed (``--die-with-parent`` also
  covers the server dying), the kernel kills every other process of the namespace, including those
  that called ``setsid()``, double-forked or cleared their environment. Nothing is left to scan for.
- **Limits.** Per execution class: with cgroup v1 controllers (as root), a cgroup per run caps
  memory (``memory``), processes (``pids``) and CPU share (``cpu``), and counts CPU time
  (``cpuacct``); without them, rlimits (address space, processes of the uid, CPU seconds). Open
  files and the size of any one file are rlimits in both cases. A cgroup also tells afterwards which
  limit a run hit, so its error can name it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runyard.execution.contract import Limits
from runyard.execution.runtime import limit_exec
from runyard.execution.runtime.etc_copy import EtcCopy

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "runyard"
# Controllers the per-run cgroup uses (cgroup v1 hierarchies, each mounted on its own).
_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What programs read from /etc (name resolution, TLS roots, time zone, the dynamic linker, Java's
# alternatives); the rest of /etc stays out.
_ETC = (
    "/etc/ssl", "/etc/ca-certificates", "/etc/ca-certificates.conf", "/etc/pki", "/etc/resolv.conf",
    "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/services",
    "/etc/protocols", "/etc/localtime", "/etc/timezone", "/etc/alternatives", "/etc/ld.so.cache",
    "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group", "/etc/mime.types",
    "/etc/os-release", "/etc/java-17-openjdk", "/etc/java-21-openjdk", "/etc/java-11-openjdk",
    "/etc/fonts", "/etc/xml",
)
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


_OFF_HINT = "; or set RUNYARD_SANDBOX=off to run apps unconfined, as the server (development only)"


class SandboxUnavailable(RuntimeError):
    """Runs cannot be sandboxed on this machine."""


# --- the launcher's part: what a process sets on itself before it becomes bwrap -----------------

RLIMITS = {"as": "RLIMIT_AS", "nofile": "RLIMIT_NOFILE", "cpu": "RLIMIT_CPU", "fsize": "RLIMIT_FSIZE",
           "nproc": "RLIMIT_NPROC"}


@dataclass(frozen=True)
class SelfLimits:
    """What the first process sets on itself before it executes the command: the cgroups it joins
    (their ``tasks`` files; it has one thread then) and its rlimits (name from ``RLIMITS`` → value)."""

    cgroup_tasks: tuple[str, ...] = ()
    rlimits: tuple[tuple[str, int], ...] = ()

    def launcher_args(self) -> list[str]:
        """Arguments of the ``limit-exec`` program, up to and including ``--``."""
        args: list[str] = []
        for path in self.cgroup_tasks:
            args += ["-c", path]
        for name, value in self.rlimits:
            args += ["-r", f"{name}={value}"]
        return [*args, "--"]

    def apply(self) -> None:
        """The same in Python, for a ``preexec_fn`` (where no launcher could be built)."""
        import resource

        for path in self.cgroup_tasks:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        for name, value in self.rlimits:
            resource.setrlimit(getattr(resource, RLIMITS[name]), (value, value))

    def __bool__(self) -> bool:
        return bool(self.cgroup_tasks or self.rlimits)


def self_limits(limits: Limits, cgroup: RunCgroup | None, *, max_output_bytes: int | None = None,
                address_space_headroom_mb: int = 0) -> SelfLimits:
    """The launcher's settings for ``limits``: what a cgroup enforces is not duplicated as an rlimit.
    ``address_space_headroom_mb`` is added to the address-space cap of a runtime that reserves more
    than it uses (the JVM)."""
    rl: list[tuple[str, int]] = []
    if limits.memory_mb is not None and (cgroup is None or not cgroup.has("memory")):
        rl.append(("as", (int(limits.memory_mb) + address_space_headroom_mb) * 1024 * 1024))
    if limits.open_files is not None:
        rl.append(("nofile", int(limits.open_files)))
    if limits.cpu_seconds is not None and (cgroup is None or not cgroup.has("cpuacct")):
        rl.append(("cpu", max(1, int(limits.cpu_seconds + 0.999))))
    if limits.file_max_bytes is not None:
        # stdout is a file too: its own cap (and message) comes first.
        rl.append(("fsize", max(int(limits.file_max_bytes), (max_output_bytes or 0) + 1)))
    if limits.max_processes is not None and (cgroup is None or not cgroup.has("pids")):
        # Counted per uid by the kernel (every run of the uid together; root, before the switch to the
        # sandbox uid, is not held to it): only a fallback.
        rl.append(("nproc", int(limits.max_processes)))
    return SelfLimits(cgroup_tasks=tuple(cgroup.join_files()) if cgroup is not None else (), rlimits=tuple(rl))


# --- cgroups ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupRoot:
    """The cgroup v1 hierarchies Runyard may make run groups in (as root).

    Groups are kept and reused run after run (a pool per server process, named ``p<pid>-<n>``): a
    group's directory cannot be removed until the kernel has fully released its last task, which
    takes up to tens of milliseconds after the run ended. A reused group gets the next run's limits,
    and the counters that tell which limit a run hit are read against their values when it began.
    """

    controllers: dict[str, Path]  # controller -> its ``runyard`` parent group
    _free: list[RunCgroup] = field(default_factory=list, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    _names: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> CgroupRoot | None:
        if os.geteuid() != 0 or (root / "cgroup.controllers").exists():  # not root, or cgroup v2 only
            return None
        found: dict[str, Path] = {}
        for name in _CONTROLLERS:
            base = root / name
            if not (base / "cgroup.procs").exists():
                continue
            parent = base / CGROUP_PARENT
            try:
                parent.mkdir(exist_ok=True)
                if name == "memory":
                    _write(parent / "memory.use_hierarchy", "1", missing_ok=True)
            except OSError as exc:
                log.info("cgroup controller %s is not usable: %s", name, exc)
                continue
            found[name] = parent
        if not {"memory", "pids"} <= found.keys():
            return None
        found_root = cls(found)
        found_root.sweep()
        return found_root

    def group(self, name: str) -> RunCgroup:
        return RunCgroup({ctl: parent / name for ctl, parent in self.controllers.items()})

    def take(self, limits: Limits) -> RunCgroup:
        """A group for one run, with ``limits`` set (a kept one, or a new one)."""
        with self._lock:
            group = self._free.pop() if self._free else None
            if group is None:
                self._names[0] += 1
                group = self.group(f"p{os.getpid()}-{self._names[0]}")
        group.begin(limits)
        return group

    def give(self, group: RunCgroup) -> int:
        """A run's group back, once its run ended: whatever is left in it is killed first (how many)."""
        killed = group.kill()
        if _adopting[0] or os.getpid() == 1:  # (else the inits are another process's to reap)
            reap_sandbox_inits()
        if group.live():
            return killed  # not reusable; left for the sweep of a later start
        with self._lock:
            if len(self._free) < 256:
                self._free.append(group)
                return killed
        group.remove()
        return killed

    def sweep(self) -> int:
        """Groups of server processes that no longer run: their leftovers killed, the groups removed."""
        killed = 0
        names: set[str] = set()
        for parent in self.controllers.values():
            with contextlib.suppress(OSError):
                names.update(e.name for e in os.scandir(parent) if e.is_dir())
        for name in names:
            owner = name[1:].split("-", 1)[0] if name.startswith("p") else ""
            if owner.isdigit() and (int(owner) == os.getpid() or os.path.exists(f"/proc/{owner}")):
                continue
            group = self.group(name)
            killed += group.kill()
            group.remove()
        return killed


class RunCgroup:
    """One run's groups, one per controller."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self._oom_before = 0
        self._pids_max_before = 0

    def has(self, controller: str) -> bool:
        return controller in self.paths

    def begin(self, limits: Limits) -> None:
        """Made if new, given ``limits``, its counters read (or reset) for a run that starts now."""
        self.create(limits)
        mem, pids, acct = self.paths.get("memory"), self.paths.get("pids"), self.paths.get("cpuacct")
        self._oom_before = _read_keyed(mem / "memory.oom_control").get("oom_kill", 0) if mem else 0
        self._pids_max_before = _read_keyed(pids / "pids.events").get("max", 0) if pids else 0
        if acct is not None:
            _write(acct / "cpuacct.usage", "0", missing_ok=True)

    def create(self, limits: Limits) -> None:
        for path in self.paths.values():
            path.mkdir(exist_ok=True)
        mem = self.paths.get("memory")
        if mem is not None:
            # memory+swap may never be below memory: lifted first, then both set (a kept group may have
            # had a smaller limit).
            size = str(int(limits.memory_mb) * 1024 * 1024) if limits.memory_mb is not None else "-1"
            _write(mem / "memory.memsw.limit_in_bytes", "-1", missing_ok=True)
            _write(mem / "memory.limit_in_bytes", size)
            _write(mem / "memory.memsw.limit_in_bytes", size, missing_ok=True)  # no swapping past it
        pids = self.paths.get("pids")
        if pids is not None:
            # bwrap and its init come first (and setpriv, where it is used): the app gets the number it
            # was promised.
            _write(pids / "pids.max", str(int(limits.max_processes) + 3) if limits.max_processes is not None else "max")
        cpu = self.paths.get("cpu")
        if cpu is not None:
            _write(cpu / "cpu.cfs_period_us", "100000", missing_ok=True)
            quota = str(max(1000, int(limits.cores * 100000))) if limits.cores else "-1"
            _write(cpu / "cpu.cfs_quota_us", quota, missing_ok=True)

    def join_files(self) -> list[str]:
        """The files a process writes "0" to, to join the group: ``tasks``, which moves the writing thread
        (all of a process that has one), not ``cgroup.procs``, which moves a thread group under a global
        lock whose RCU synchronization cost 10–15 ms a run here."""
        return [str(path / "tasks") for path in self.paths.values()]

    def pids(self) -> list[int]:
        path = self.paths.get("freezer") or self.paths.get("pids") or next(iter(self.paths.values()))
        try:
            text = (path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def live(self) -> list[int]:
        """The group's processes that have not ended (one in the kernel's exit path has)."""
        return [pid for pid in self.pids() if _state(pid) == "live"]

    def cpu_seconds(self) -> float:
        acct = self.paths.get("cpuacct")
        if acct is None:
            return 0.0
        try:
            return int((acct / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return 0.0

    def limit_hit(self) -> str | None:
        """Which kernel-enforced limit the run ran into: ``memory`` or ``processes`` (None: neither)."""
        mem = self.paths.get("memory")
        if mem is not None and _read_keyed(mem / "memory.oom_control").get("oom_kill", 0) > self._oom_before:
            return "memory"
        pids = self.paths.get("pids")
        if pids is not None and _read_keyed(pids / "pids.events").get("max", 0) > self._pids_max_before:
            return "processes"
        return None

    def kill(self, timeout: float = 1.0) -> int:
        """SIGKILL every process in the group (frozen first, so none can fork meanwhile); how many."""
        freezer = self.paths.get("freezer")
        members = self.live()
        inits = [pid for pid in members if _namespace_init(pid)]
        if inits:
            # A sandbox's init outlives bubblewrap by a moment (bwrap exits on its word, without waiting
            # for it): not a survivor of the run. Its end is waited for, and with it its namespace's.
            end = time.monotonic() + _EXIT_WAIT_SECONDS
            while any(_state(pid) in ("live", "exiting") for pid in inits) and time.monotonic() < end:
                time.sleep(0.001)
            members = self.live()
        if not members:
            return 0
        if freezer is not None:
            _write(freezer / "freezer.state", "FROZEN", missing_ok=True)
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if freezer is not None:
            _write(freezer / "freezer.state", "THAWED", missing_ok=True)
        end = time.monotonic() + timeout
        while self.live() and time.monotonic() < end:
            time.sleep(0.01)
        return len(members)

    def remove(self) -> None:
        for path in self.paths.values():
            for _ in range(50):  # a group is removable once its last task is fully gone
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)


_PF_EXITING = 0x4  # a task's flag: it is in the kernel's exit path, for good


_EXIT_WAIT_SECONDS = 0.2  # how long a sandbox's init is waited for at the end of its run


def _namespace_init(pid: int) -> bool:
    """Whether ``pid`` is the init (pid 1) of a PID namespace below this process's."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    return len(ids) > 1 and ids[-1] == "1"
    except OSError:
        pass
    return False


def reap_sandbox_inits() -> int:
    """Reap this process's children that are ended inits of a PID namespace: what bubblewrap leaves behind,
    adopted by a child subreaper (``adopt_orphans``) or a PID 1. Nothing here waits for such a process
    otherwise (a ``Popen`` is always the bwrap before it). How many were reaped."""
    reaped = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as fh:
                children = [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            if _state(child) == "ended" and _namespace_init(child):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child, os.WNOHANG)
                    reaped += 1
    return reaped


def _state(pid: int) -> str:
    """``live``; ``exiting`` (in the kernel's exit path for good: a PID namespace's init waits there for
    its namespace to end); ``ended`` (a zombie waiting for its parent); or ``gone``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):
            return "ended"
        return "exiting" if int(fields[6]) & _PF_EXITING else "live"
    except (OSError, IndexError, ValueError):
        return "gone"


def adopt_orphans() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux's child subreaper), as ``runyard
    serve`` does: the init bubblewrap leaves behind at the end of a run then becomes the server's child,
    reaped when the run's cgroup is given back (``reap_sandbox_inits``), instead of the machine's PID 1's,
    which may be slow to reap it, or never do (a container whose PID 1 is the server itself reaps only
    what it is told to). Not for a process that starts other programs' process trees (a test session):
    their orphans would become its zombies."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _adopting[0] = libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    return _adopting[0]


_adopting = [False]  # whether this process is its runs' subreaper (``adopt_orphans``)


def _write(path: Path, value: str, *, missing_ok: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.write(fd, value.encode())
    except OSError:
        if not missing_ok:
            raise
    finally:
        os.close(fd)


def _read_keyed(path: Path) -> dict[str, int]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


# --- the process tree, found through the kernel ---------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``: in a PID namespace whose init is a child of ``pid``, that is
    every process of the namespace, since orphans are reparented to its init."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as fh:
                    children = [int(c) for c in fh.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            stack.extend(children)
    return found


# --- bubblewrap ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    """How runs are sandboxed on this machine (found once by :func:`detect`)."""

    bwrap: str
    uid: int | None = None          # switched to inside (a root server); None: bwrap's user namespace
    gid: int | None = None
    setpriv: str | None = None      # only where no launcher switches the uid (no C compiler)
    cgroups: CgroupRoot | None = None
    ro_paths: tuple[str, ...] = ()  # more read-only paths from the settings (toolchains under /opt, …)
    etc: EtcCopy | None = field(default=None, compare=False)  # what runs see as /etc
    _system: tuple[str, ...] = field(default=(), repr=False)  # the system part of every command, up to /etc
    _after_etc: tuple[str, ...] = field(default=(), repr=False)

    def describe(self) -> str:
        who = f"uid {self.uid}" if self.uid is not None else "a user namespace"
        limits = "cgroups" if self.cgroups is not None else "rlimits"
        return f"bubblewrap ({who}, limits by {limits})"

    def switch_args(self) -> list[str]:
        """The launcher's options that switch to the sandbox uid (none in a user namespace)."""
        return ["-u", f"{self.uid}:{self.gid}"] if self.uid is not None else []

    def command(self, argv: Sequence[str], *, cwd: Path, rw: Sequence[Path], ro: Sequence[Path],
                network: bool = True, tmp_bytes: int | None = None, etc: Path | None = None,
                switched: bool = False) -> list[str]:
        """``argv`` wrapped: bubblewrap with this run's mounts, then (as root) the switch of uid, by
        setpriv unless ``switched`` (``argv`` is the launcher with :meth:`switch_args`). ``etc``: the
        copy to show as ``/etc`` (held by the caller for the run; default the current one)."""
        args = [self.bwrap, *self._system]
        if self.etc is not None:
            args += ["--ro-bind", str(etc or self.etc.current()), "/etc"]
        args += self._after_etc
        if not network:
            args.append("--unshare-net")
        if tmp_bytes:
            args += ["--size", str(int(tmp_bytes))]
        # Writable by every uid, sticky, as /tmp is (first: a workspace may live under /tmp, bound over it below).
        args += ["--perms", "01777", "--tmpfs", "/tmp"]
        binds = [("--ro-bind-try" if p in self.ro_paths else "--ro-bind", p) for p in _outermost(str(p) for p in (*ro, *self.ro_paths))]
        binds += [("--bind", str(p)) for p in rw]
        # The folders leading to each bind are made traversable (bwrap would copy their modes, and a
        # data folder of mode 0700 would hide the workspace from its own app).
        for parent in _ancestors(path for _, path in binds):
            args += ["--perms", "0755", "--dir", parent]
        for option, path in binds:
            args += [option, path, path]
        args += ["--chdir", str(cwd)]
        if self.uid is not None and not switched:
            if self.setpriv is None:
                raise SandboxUnavailable("util-linux setpriv is needed to switch to the sandbox uid without the launcher")
            args += ["--", self.setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]
        else:
            args.append("--")
        return [*args, *argv]


def _ancestors(paths: Iterable[str]) -> list[str]:
    """The folders above ``paths`` that the sandbox makes itself (not ``/``, ``/tmp`` or ``/usr``), parents first."""
    found: dict[str, None] = {}
    for path in paths:
        parts = Path(path).parts[1:-1]
        for i in range(1, len(parts) + 1):
            found["/" + "/".join(parts[:i])] = None
    return [p for p in found if p not in ("/tmp", "/usr") and not p.startswith("/usr/")]


def _outermost(paths: Iterable[str]) -> list[str]:
    """``paths`` without those inside another one (or under ``/usr``, bound whole), in order."""
    kept: list[str] = []
    for path in dict.fromkeys(os.path.normpath(p) for p in paths):
        if path == "/usr" or path.startswith("/usr/"):
            continue
        if any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        kept = [k for k in kept if not k.startswith(path.rstrip("/") + "/")]
        kept.append(path)
    return kept


def _system_args(uid: int | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The system part of every command: what comes before ``/etc``, and what comes after it."""
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "runyard",
            "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    if uid is not None:  # privileged bwrap: the switch of uid inside needs these two, which it drops
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args.append("--unshare-user")
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    # /etc comes between the two: only what programs need of it, never all of it (an operator's file
    # there may hold a database URL or a key and be readable by all), as one bind of a copy of those
    # entries (a bind each cost about 3 ms a run for the lot).
    return tuple(args), ("--proc", "/proc", "--dev", "/dev", "--dir", "/var/tmp")


def etc_sources(ro_paths: Sequence[str] = (), etc_paths: Sequence[str] = ()) -> list[tuple[str, str]]:
    """What the sandbox's /etc holds, as (host path, name under /etc): the entries programs read, the
    read-only paths of the settings that lie in /etc, and the settings' extra entries (each under its
    own name)."""
    sources = [(path, path.removeprefix("/etc/")) for path in _ETC]
    sources += [(path, path.removeprefix("/etc/")) for path in ro_paths if path.startswith("/etc/")]
    sources += [(os.path.normpath(path), os.path.basename(os.path.normpath(path))) for path in etc_paths]
    return sources


def default_state_dir() -> Path:
    """Where the sandbox keeps its /etc copy when the caller names no folder of its own."""
    return Path(tempfile.gettempdir()) / f"runyard-sandbox-{os.geteuid()}"


_detected: dict[tuple, Sandbox] = {}
_detect_lock = threading.Lock()


def detect(*, bwrap: str | None = None, uid: int = 61000, gid: int = 61000, ro_paths: Sequence[str] = (),
           state_dir: Path | None = None, etc_paths: Sequence[str] = ()) -> Sandbox:
    """The sandbox this machine offers, tried once with a real command; SandboxUnavailable says why not.

    ``state_dir``: a folder of the server's that no run is shown (the environment cache), for the
    /etc copy (``.etc``) and the launcher (``.bin``); ``etc_paths``: more host entries runs see in /etc."""
    ro_paths = tuple(os.path.normpath(p) for p in ro_paths)
    state = Path(state_dir) if state_dir is not None else default_state_dir()
    key = (bwrap, uid, gid, ro_paths, str(state), tuple(etc_paths))
    with _detect_lock:
        if key in _detected:
            return _detected[key]
        found = _detect(bwrap, uid, gid, tuple(ro_paths), state, tuple(etc_paths))
        _detected[key] = found
        return found


def _detect(bwrap: str | None, uid: int, gid: int, ro_paths: tuple[str, ...], state: Path,
            etc_paths: tuple[str, ...]) -> Sandbox:
    program = bwrap or shutil.which("bwrap", path=SAFE_PATH)
    if program is None or not os.access(program, os.X_OK):
        raise SandboxUnavailable(f"bubblewrap ({program or 'bwrap'}) is not installed: install it (Debian: apt-get "
                                 f"install bubblewrap){_OFF_HINT}")
    root = os.geteuid() == 0
    launcher = limit_exec.build(state / limit_exec.CACHE_SUBDIR) if root else None
    setpriv = shutil.which("setpriv", path=SAFE_PATH) if root else None
    if root and launcher is None and setpriv is None:
        raise SandboxUnavailable("util-linux setpriv (or a C compiler, to build Runyard's launcher) is needed to run "
                                 f"sandboxed apps under their own uid{_OFF_HINT}")
    etc = EtcCopy(state / ".etc", etc_sources(ro_paths, etc_paths))
    try:
        etc.current()
    except OSError as exc:
        raise SandboxUnavailable(f"cannot make the sandbox's /etc under {state}: {exc}{_OFF_HINT}") from None
    head, after = _system_args(uid if root else None)
    sandbox = Sandbox(bwrap=program, uid=uid if root else None, gid=gid if root else None, setpriv=setpriv,
                      cgroups=CgroupRoot.detect(), ro_paths=tuple(p for p in ro_paths if not p.startswith("/etc/")),
                      etc=etc, _system=head, _after_etc=after)
    # Everything a run's command uses (a size for /tmp, modes for the folders it makes, the switch of
    # uid) is tried here, so an old bubblewrap fails now rather than every run later.
    inner = [str(launcher), *sandbox.switch_args(), "--"] if launcher is not None else []
    ro = [Path("/usr/bin"), *([launcher] if launcher is not None else [])]
    probe = sandbox.command([*inner, "/bin/sh", "-c", "id -u"], cwd=Path("/"), rw=[], ro=ro, tmp_bytes=1 << 20,
                            switched=launcher is not None)
    probe[1:1] = ["--perms", "0755", "--dir", "/runyard-probe"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, env={"PATH": SAFE_PATH}, cwd="/")
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(f"bubblewrap does not run here: {exc}{_OFF_HINT}") from None
    if done.returncode != 0:
        raise SandboxUnavailable(f"bubblewrap cannot make a sandbox here: {done.stderr.decode(errors='replace').strip()[-300:]}"
                                 f"{_OFF_HINT}")
    seen = done.stdout.decode().strip()
    if root and seen != str(uid):
        raise SandboxUnavailable(f"the sandbox ran as uid {seen}, not {uid}")
    return sandbox


def workspace_size(root: Path, limit: int) -> int:
    """Bytes the files under ``root`` take on disk, counted up to just past ``limit``. The tree is the
    app's while it runs: it is walked by directory descriptors, so a folder swapped for a link is never
    followed out of it."""
    total = 0
    for _, dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in (*dirs, *files):
            try:
                total += os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
        if total > limit:
            break
    return total


def hand_over(root: Path, uid: int | None, gid: int | None) -> None:
    """Give ``root`` and everything under it (links themselves, never their targets) to the sandbox uid."""
    if uid is None:
        return
    os.lchown(root, uid, gid if gid is not None else -1)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.lchown(os.path.join(dirpath, name), uid, gid if gid is not None else -1)

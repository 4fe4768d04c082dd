"""What every benchmark shares: a real ``runyard serve``, statistics, a trivial app, machine facts."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
CACHE = REPO / ".cache" / "bench"
ENV_DIR = CACHE / "envs"  # app environments survive between bench runs: "once environments are cached"
SERVER_START_SECONDS = 90


class SetupError(RuntimeError):
    """A benchmark could not be set up or its runs did not do what they should; nothing was measured."""


# ------------------------------------------------------------------------------------------ statistics

PG_HINT = "PostgreSQL server binaries not found: `sudo apt-get install -y postgresql` (or set RUNYARD_PG_BINDIR)"


class PostgresMissing(SetupError):
    """No PostgreSQL server binaries on this machine."""


def postgres_half(bench_id: str, quick: bool, measure: Callable[[Any], dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """Run ``measure(cluster)`` on a throwaway PostgreSQL cluster: (its row, None), or in quick mode on a
    machine without PostgreSQL (None, why it was skipped); full mode needs PostgreSQL."""
    from runyard.testing.postgres import _bindir, start_cluster

    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        if not quick:
            raise PostgresMissing(PG_HINT)
        skipped = f"SKIPPED the PostgreSQL half: {PG_HINT}"
        print(f"!! {bench_id} {skipped}", file=sys.stderr, flush=True)
        return None, skipped
    try:
        cluster = start_cluster()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(f"could not start PostgreSQL for {bench_id}: {exc}") from None
    try:
        return measure(cluster), None
    finally:
        cluster.stop()


def settle_database(db: Any) -> None:
    """The same housekeeping on both databases, as a long-running installation would have had it."""
    from sqlalchemy import text

    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) runs"))
            conn.execute(text("CHECKPOINT"))
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def explain_sent(db: Any, statement: Any, params: Any) -> list[tuple[Any, ...]]:
    """The plan rows of the SQL the driver is sent for ``statement`` (as SQLAlchemy compiles it for this
    dialect, with its bound parameters): ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)``
    on PostgreSQL. The statement is executed once to capture it; its runs query is the one explained."""
    from sqlalchemy import event

    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, executemany: bool) -> None:
        captured.append((sql, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        with db.engine.connect() as conn:
            conn.execute(statement, params).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    sql, parameters = next((c for c in captured if "FROM runs" in c[0]), captured[-1])
    explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(explain + sql, parameters)
        return list(cursor.fetchall())
    finally:
        raw.close()


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (``p`` in 0..100) of ``values``."""
    if not values:
        raise SetupError("no samples")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/min/max of durations given in seconds, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


# ------------------------------------------------------------------------------------------ the server

def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy (every core, user and kernel, interrupts included)
    since boot: what a CPU-bound benchmark shares, whichever process spends it."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def on_machine(action: Callable[[], Any]) -> tuple[Any, float]:
    """``action()``'s value and the machine's CPU seconds (:func:`machine_cpu_seconds`) it took."""
    before = machine_cpu_seconds()
    value = action()
    return value, machine_cpu_seconds() - before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without Runyard, Nextmv or virtualenv variables, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RUNYARD_", "NEXTMV_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(overrides)
    return env


def execution_overrides() -> dict[str, str]:
    """Execution settings given to the benchmark (e.g. ``RUNYARD_EXECUTION__PRESTART_INTERPRETERS=false``),
    passed on to its server, so a setting's A/B is two runs of the same benchmark."""
    return {k: v for k, v in os.environ.items() if k.startswith("RUNYARD_EXECUTION__")}


@dataclass
class Server:
    """``runyard serve`` on a loopback port with its own data dir and the given settings."""

    base: Path
    executor: str = "embedded"
    database_url: str | None = None
    concurrency: int | None = None  # of the default execution class
    env_dir: Path = ENV_DIR
    extra_env: dict[str, str] = field(default_factory=dict)
    key: str = field(default_factory=lambda: "bench-" + uuid.uuid4().hex)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.base / "server.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        runyard = Path(sys.executable).parent / "runyard"
        if not runyard.exists():
            raise SetupError(f"{runyard} is missing: run the README's setup command first")
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "tmp").mkdir(exist_ok=True)
        env = clean_env(RUNYARD_API_KEY=self.key, RUNYARD_EXECUTOR=self.executor,
                        RUNYARD_EXECUTION__ENV_DIR=str(self.env_dir), TMPDIR=str(self.base / "tmp"), **self.extra_env)
        if self.database_url:
            env["RUNYARD_DATABASE_URL"] = self.database_url
        if self.concurrency is not None:
            env["RUNYARD_EXECUTION__CLASSES"] = json.dumps({"6c9500mb870s": {"concurrency": self.concurrency}})
        argv = [str(runyard), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.base / "data"), "--log-level", "warning"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(f"runyard serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise SetupError(f"runyard serve did not answer /healthz within {SERVER_START_SECONDS}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def session(self) -> requests.Session:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.key}"
        return s

    def call(self, method: str, path: str, session: requests.Session | None = None, **kw: Any) -> Any:
        """One API call that must succeed; its JSON body."""
        sender = session or self.session()
        kw.setdefault("timeout", 60)
        response = sender.request(method, self.url + path, **kw)
        if response.status_code not in (200, 201, 204):
            raise SetupError(f"{method} {path}: {response.status_code} {response.text[:500]}\n{self.log_tail()}")
        return response.json() if response.content else None

    def client(self) -> Any:
        """Runyard's own SDK client pointed at this server."""
        from runyard import cloud

        return cloud.Client(api_key=self.key, url=self.url)


# ------------------------------------------------------------------------------------------ apps

TRIVIAL_MAIN = '''\
"""Trivial JSON app for the benchmarks: read JSON on stdin, write it back as the solution."""
import json
import sys

data = json.load(sys.stdin)
json.dump({"solution": data, "statistics": {"result": {"value": 1}}}, sys.stdout)
'''

TRIVIAL_MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
configuration:
  content:
    format: json
"""

TRIVIAL_INPUT = {"hello": "world", "items": list(range(10))}


def write_trivial_app(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "main.py").write_text(TRIVIAL_MAIN)
    (dest / "app.yaml").write_text(TRIVIAL_MANIFEST)
    return dest


def deploy(server: Server, app_dir: Path, app_id: str) -> tuple[Any, str]:
    """Create, push, version and instance an app with Runyard's SDK; returns (Application, instance id)."""
    from runyard import cloud

    client = server.client()
    app = cloud.Application.new(client=client, name=app_id, id=app_id)
    app.push(app_dir=str(app_dir))
    version = app.new_version(id=f"{app_id}-v1", name="v1")
    instance = app.new_instance(version_id=version.id, id=f"{app_id}-i1", name="i1")
    return app, instance.id


def check_result(result: Any, expected_solution: Any | None = None) -> None:
    status = getattr(result.metadata.status_v2, "value", result.metadata.status_v2)
    if status != "succeeded":
        raise SetupError(f"run {result.id} ended {status}: {getattr(result, 'error_log', None)}")
    if expected_solution is not None and (result.output or {}).get("solution") != expected_solution:
        raise SetupError(f"run {result.id} returned {str(result.output)[:200]} instead of the expected solution")


def app_env_python(requirements: list[str]) -> Path:
    """The interpreter of the (already built) Runyard environment for ``requirements``."""
    from runyard.execution.runtime.envs import EnvironmentBuilder

    builder = EnvironmentBuilder(root=ENV_DIR)
    python = builder.path_for(requirements) / "bin" / "python"
    if not python.exists():
        raise SetupError(f"the app environment {python.parent.parent} was not built by the warm-up runs")
    return python


def run_subprocess(python: Path, main: Path, stdin: bytes, cwd: Path) -> bytes:
    """The baseline: the app's entrypoint run directly, input on stdin; its stdout."""
    proc = subprocess.run([str(python), str(main)], input=stdin, capture_output=True, cwd=cwd,
                          env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", "HOME": str(cwd)})
    if proc.returncode != 0:
        raise SetupError(f"baseline subprocess failed ({proc.returncode}): {proc.stderr[-500:]!r}")
    return proc.stdout


# ------------------------------------------------------------------------------------------ machine

def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _version_of(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def postgres_version() -> str | None:
    try:
        from runyard.testing.postgres import _bindir
    except ImportError:
        return None
    bindir = _bindir()
    return _version_of([str(bindir / "postgres"), "--version"]) if bindir else None


def machine_facts() -> dict[str, Any]:
    import sqlite3

    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace") if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = _first(r"^MemTotal:\s+(\d+)", meminfo)
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True,
                                    text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, False
    import importlib.metadata as md

    def dist(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cpu_model": _first(r"^model name\s*:\s*(.+)$", cpuinfo) or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb else None,
        "kernel": platform.release(),
        "os": _first(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text()) if Path("/etc/os-release").exists() else None,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres_version(),
        "uvicorn": dist("uvicorn"),
        "http_parser": "httptools" if dist("httptools") else "h11",
        "event_loop": "uvloop" if dist("uvloop") else "asyncio",
        "fastapi": dist("fastapi"),
        "sqlalchemy": dist("sqlalchemy"),
        "wrk": _version_of(["wrk", "--version"]) if shutil.which("wrk") else None,
        "git_commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else None,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }

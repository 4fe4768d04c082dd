"""Runs end to end: the embedded executor, real subprocesses, SQLite and PostgreSQL.

``start_server`` gives in-process servers (``TestClient`` over the real app); ``ServerProcess`` is a
real ``runyard serve`` for what needs a process to kill or a log to read. Every server of the session
shares one app-environment cache, so the uv-built environment is made once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from integration.conftest import ADMIN_KEY, Api
from runyard.server.app import create_app
from runyard.settings import Settings
from runyard.testing.postgres import free_port

from .apps import TOOL_APP

CLASS = "c1"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
RUN_TIMEOUT = 120.0  # generous: the first run of a session builds the app environment with uv
SERVER_START_SECONDS = 60.0


@pytest.fixture(scope="session")
def app_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One app-environment cache for every server of the session."""
    return tmp_path_factory.mktemp("app-envs")


@pytest.fixture(scope="session")
def gate_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder sandboxed runs can read (``execution.sandbox_ro_paths``), for gate files a test touches."""
    root = tmp_path_factory.mktemp("gates")
    root.chmod(0o755)
    return root


@pytest.fixture
def gates(gate_root: Path, request: pytest.FixtureRequest) -> Path:
    """This test's gate folder, which its runs see (read-only) in their sandbox."""
    folder = gate_root / f"{len(list(gate_root.iterdir()))}-{request.node.name[:40]}"
    folder.mkdir(mode=0o755)
    return folder


def execution_settings(env_dir: Path, *, concurrency: int = 2, max_duration: float = 300, **extra: Any) -> dict[str, Any]:
    """One execution class ``c1`` (the default) plus the shared env cache and a quick poll."""
    return {
        "env_dir": env_dir,
        "classes": {CLASS: {"concurrency": concurrency, "max_duration_seconds": max_duration}},
        "default_class": CLASS,
        "poll_interval_seconds": 0.05,
        "kill_grace_seconds": 0.3,
        **extra,
    }


@pytest.fixture
def start_server(database_url: str, tmp_path: Path, app_env_dir: Path, gate_root: Path) -> Iterator[Callable[..., Api]]:
    """``start_server(concurrency=…, limits=…, …)``: an in-process server with the embedded executor."""
    with ExitStack() as stack:

        def start(*, limits: dict[str, Any] | None = None, data: str = "data", **execution: Any) -> Api:
            """A server; ``api.stop()`` stops it before the test ends (then another may use the database,
            in a ``data`` folder of its own)."""
            execution.setdefault("sandbox_ro_paths", [str(gate_root)])
            settings = Settings(
                data_dir=tmp_path / data,
                database_url=database_url,
                api_key=ADMIN_KEY,
                executor="embedded",
                execution=execution_settings(app_env_dir, **execution),
                limits=limits or {},
            )
            own = stack.enter_context(ExitStack())
            api = Api(own.enter_context(TestClient(create_app(settings))))
            api.stop = own.close
            return api

        yield start


# --- polling helpers ---------------------------------------------------------------------------

def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def metadata(api: Api, app_id: str, run_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/applications/{app_id}/runs/{run_id}/metadata")
    assert response.status_code == 200, response.text
    return response.json()["metadata"]


def wait_status(api: Api, app_id: str, run_id: str, statuses: frozenset[str] | set[str] = TERMINAL,
                timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """The run's metadata once its ``status_v2`` is one of ``statuses``."""
    def reached() -> dict[str, Any] | None:
        meta = metadata(api, app_id, run_id)
        return meta if meta["status_v2"] in statuses else None

    return wait_for(reached, timeout=timeout, what=f"run {run_id} to become {'/'.join(sorted(statuses))}")


def submit(api: Api, app_id: str, run_input: Any, *, configuration: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"input": run_input}
    if configuration is not None:
        body["configuration"] = configuration
    response = api.post(f"/v1/applications/{app_id}/runs", json=body)
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def result(api: Api, app_id: str, run_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/applications/{app_id}/runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


def run_log(api: Api, app_id: str, run_id: str) -> str:
    response = api.get(f"/v1/applications/{app_id}/runs/{run_id}/logs")
    assert response.status_code == 200, response.text
    return response.json()["log"]


def list_run_ids(api: Api, app_id: str) -> list[str]:
    return [r["id"] for r in api.get(f"/v1/applications/{app_id}/runs").json()["runs"]]


def initiated_at(meta: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(meta["initiated_at"].replace("Z", "+00:00"))


def new_tool_app(api: Api, app_id: str, files: dict[str, bytes | str] = TOOL_APP) -> str:
    assert api.post("/v1/applications", json={"id": app_id, "name": app_id}).status_code == 200
    response = api.push(app_id, files)
    assert response.status_code == 200, response.text
    return app_id


# --- processes -------------------------------------------------------------------------------

def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A zombie is dead: nothing here reaps orphans (PID 1 may not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


SANDBOX_UID = 61000  # Settings().execution.sandbox_uid: every sandboxed run's processes, and nothing else


WAITING_INTERPRETER = "runyard-waiting"  # the name of a Python interpreter started ahead, until its run comes
WAITING_MARK = b"# runyard: a Python interpreter started ahead"  # the first line of its command (warm_python.py)


def waiting_interpreter(pid: int | str) -> bool:
    """Whether ``pid`` is a Python interpreter started ahead that has not got its run: named so once it
    has started; while it starts, told by its command and its folder (the workspace, which no run has as
    its own folder: a run's is the app's, inside it)."""
    if Path(f"/proc/{pid}/comm").read_text().strip() == WAITING_INTERPRETER:
        return True
    return WAITING_MARK in Path(f"/proc/{pid}/cmdline").read_bytes() and Path(os.readlink(f"/proc/{pid}/cwd")).name == "ws"


def sandbox_processes() -> list[int]:
    """Live processes running as the sandbox uid: those of runs, found by the kernel's account of who
    they are (not by anything a run could change about itself). Tests run one at a time, so these are
    the current test's. Interpreters started ahead and still waiting for their run are not counted:
    they hold nothing of any run."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == SANDBOX_UID and process_alive(int(entry)) and \
                        not waiting_interpreter(entry):
                    found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def reap_pids() -> Iterator[list[int]]:
    """Pids a test wants dead at teardown whatever happened (orphans of a killed server)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if process_alive(pid):
            kill_quietly(pid)


class HttpClient:
    """The slice of ``TestClient``'s interface that ``Api`` uses, over real HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        if "content" in kw:
            kw["data"] = kw.pop("content")
        kw.setdefault("timeout", 30)
        url = path if path.startswith("http") else self.base_url + path
        return self.session.request(method, url, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


@dataclass
class ServerProcess:
    """``runyard serve`` on a loopback port; ``start()`` again after ``kill()`` reuses its data."""

    data_dir: Path
    database_url: str
    env_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "server.log"

    def api(self, key: str = ADMIN_KEY) -> Api:
        return Api(HttpClient(self.url), key)  # type: ignore[arg-type]

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_"))}
        env.update(RUNYARD_API_KEY=ADMIN_KEY, RUNYARD_DATABASE_URL=self.database_url,
                   RUNYARD_EXECUTION__ENV_DIR=str(self.env_dir), **self.env)
        argv = [str(Path(sys.executable).parent / "runyard"), "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            wait_for(self._healthy, timeout=SERVER_START_SECONDS, what=f"runyard serve on port {self.port}", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log:\n{self.log_tail()}") from None
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"runyard serve exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no server log: {exc})"

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, the runs' processes (own sessions) are orphaned."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server_process(database_url: str, tmp_path: Path, app_env_dir: Path, gate_root: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``server_process(**env)``: a started ``runyard serve``; stopped at teardown."""
    servers: list[ServerProcess] = []

    def make(**env: str) -> ServerProcess:
        env.setdefault("RUNYARD_EXECUTION__SANDBOX_RO_PATHS", f'["{gate_root}"]')
        server = ServerProcess(data_dir=tmp_path / "data", database_url=database_url, env_dir=app_env_dir, env=env)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port something listens on, on loopback (for runs that try to reach the network)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()

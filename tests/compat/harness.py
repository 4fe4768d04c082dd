"""Drive a real ``runyard serve`` with the official ``nextmv`` SDKs.

The two SDK generations (0.28.5 and 1.13.0) cannot share an environment, so each lives in its own
virtualenv under ``.cache/compat/`` and every test step is a small Python script run by that
virtualenv's interpreter. A script prints its result as JSON on its last stdout line.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from runyard.testing.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "compat"
APPS = Path(__file__).resolve().parent / "apps"
SDK_VERSIONS = ("0.28.5", "1.13.0")
SDK029 = "0.29.4"  # the product documentation's run tutorial (``new_run(dir_path=…)``); not in ``sdk``
TEMPLATE = "python_json_hello-world"
SERVER_START_SECONDS = 60
SERVER_STOP_SECONDS = 10
LOG_MARKER = "---- runyard server log (tail) ----"


def unique(prefix: str) -> str:
    """An id in the SDK's own style: ``<prefix>-<8 chars [a-z0-9]>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def uv_bin() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def python311() -> str:
    """The base CPython 3.11 interpreter (not a venv's), for the SDK virtualenvs."""
    if sys.version_info[:2] == (3, 11):
        return os.path.realpath(sys.executable)
    found = shutil.which("python3.11")
    if not found:
        raise RuntimeError("python3.11 not found on PATH")
    return found


def _uv(*args: str, timeout: float = 900) -> None:
    proc = subprocess.run([uv_bin(), *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"uv {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared with concurrent pytest processes (venv builds, the timings file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Venv:
    """A cached virtualenv built with ``uv`` from a list of requirements."""

    path: Path
    requirements: tuple[str, ...]
    probe: str  # Python code that exits 0 when the venv is usable

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def usable(self) -> bool:
        if not self.python.exists():
            return False
        return subprocess.run([str(self.python), "-c", self.probe], capture_output=True).returncode == 0

    def ensure(self) -> Venv:
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            if not self.usable():
                shutil.rmtree(self.path, ignore_errors=True)
                _uv("venv", "--python", python311(), str(self.path))
                _uv("pip", "install", "--python", str(self.python), *self.requirements)
                if not self.usable():
                    raise RuntimeError(f"{self.path} was built but `{self.probe}` still fails")
        return self

    def site_packages(self) -> Path:
        (found,) = self.path.glob("lib/python3*/site-packages")
        return found


def sdk_venv(version: str) -> Venv:
    """The venv holding ``nextmv==version`` (0.28.5 also needs ``pip``: its push runs ``python3 -m pip``)."""
    extra = ["pip"] if version.startswith("0.") else []
    imports = ", ".join(["sys", "nextmv", *extra])
    probe = f"import {imports}; sys.exit(nextmv.__version__.lstrip('v') != {version!r})"
    requirements = [f"nextmv=={version}", *extra]
    return Venv(CACHE / f"nextmv-{version}", tuple(requirements), probe).ensure()


def template_venv(template_dir: Path) -> Venv:
    """A venv with the template's own ``pyproject.toml`` dependencies, to run it directly."""
    import tomllib

    deps = tomllib.loads((template_dir / "pyproject.toml").read_text())["project"]["dependencies"]
    return Venv(CACHE / f"template-{template_dir.name}", tuple(deps), "import nextmv, plotly").ensure()


def make_bundle(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """A gzip'ed tarball whose member names (and link targets) are used verbatim, so they may be hostile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, int(time.time())
            tar.addfile(info)
    return buffer.getvalue()


def app_files(name: str) -> dict[str, bytes]:
    """The files of a test app under ``apps/``, keyed by relative path."""
    root = APPS / name
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------- server

_DEFAULT = object()


@dataclass
class Server:
    """A ``runyard serve`` process on a loopback port, with its own data dir."""

    backend: str
    url: str
    key: str = field(repr=False)
    base_dir: Path = field(repr=False)  # holds data/ (with server.log) and tmp/ (the server's TMPDIR)
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)
    bridge: Any = field(default=None, repr=False)  # from this machine's loopback to a server in a namespace

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method: str, path: str, *, key: Any = _DEFAULT, **kwargs: Any) -> requests.Response:
        """One HTTP call to the API; ``key=None`` sends no ``Authorization`` header."""
        headers = dict(kwargs.pop("headers", None) or {})
        key = self.key if key is _DEFAULT else key
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.url}/{path.lstrip('/')}", headers=headers, **kwargs)

    def create_account_key(self, name: str | None = None, role: str = "admin") -> str:
        """Create a second account (through the admin API) and return a fresh key of it."""
        account = self.api("POST", "v1/admin/accounts", json={"name": name or unique("account")})
        assert account.status_code in (200, 201), f"create account: {account.status_code} {account.text}"
        created = self.api(
            "POST", f"v1/admin/accounts/{account.json()['id']}/keys", json={"name": "k", "role": role}
        )
        assert created.status_code in (200, 201), f"create key: {created.status_code} {created.text}"
        return created.json()["key"]

    def create_app(self, app_id: str | None = None, **fields: Any) -> str:
        """Create an empty application through the API and return its id."""
        app_id = app_id or unique("app")
        response = self.api("POST", "v1/applications", json={"id": app_id, "name": app_id, **fields})
        assert response.status_code in (200, 201), f"create app: {response.status_code} {response.text}"
        return app_id

    def upload_bundle(self, app_id: str, bundle: bytes) -> requests.Response:
        """B1 + B2: fetch the binary upload URL and PUT the bundle to it as the SDK does (no key)."""
        target = self.api("GET", f"v1/applications/{app_id}/binary")
        assert target.status_code == 200, f"GET binary: {target.status_code} {target.text}"
        upload_url = requests.compat.urljoin(self.url + "/", target.json()["upload_url"])
        return requests.put(
            upload_url, data=bundle, headers={"Content-Type": "application/octet-stream"}, timeout=60
        )

    def activate_bundle(self, app_id: str) -> requests.Response:
        """B3: activate the uploaded bundle with a minimal Python requirements block."""
        requirements = {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}
        return self.api("PUT", f"v1/applications/{app_id}/binary", json={"requirements": requirements})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(SERVER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.bridge is not None:
            self.bridge.close()


def _server_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_"))}
    env.update(overrides)
    return env


def start_server(*, backend: str, base_dir: Path, env_dir: Path, database_url: str | None = None,
                 key: str | None = None, env: dict[str, str] | None = None, inside: Any = None) -> Server:
    """Start ``runyard serve`` (``env``: more settings, e.g. an S3 blob store) and wait until ``/healthz``
    answers 200. ``inside``: a ``NetNamespace`` to run it in (a Ray cluster's, to join it as a driver);
    it is then reached through a bridge from this machine's loopback (``Server.bridge``)."""
    for sub in ("data", "tmp"):
        (base_dir / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    key = key or "ry-compat-" + uuid.uuid4().hex
    settings = env or {}
    env = _server_env(
        RUNYARD_API_KEY=key,
        RUNYARD_EXECUTION__ENV_DIR=str(env_dir),
        TMPDIR=str(base_dir / "tmp"),
        **settings,
    )
    if database_url:
        env["RUNYARD_DATABASE_URL"] = database_url
    runyard = Path(sys.executable).parent / "runyard"
    argv = [
        str(runyard),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(base_dir / "data"),
    ]
    log_path = base_dir / "data" / "server.log"
    bridge = None
    if inside is not None:
        from runyard.testing.netns import forward_in

        argv = inside.command(argv)
        bridge = forward_in(inside, port)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    server = Server(backend, f"http://127.0.0.1:{bridge.port if bridge else port}", key, base_dir, process, log_path,
                    bridge=bridge)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runyard serve exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(
        f"runyard serve did not answer /healthz within {SERVER_START_SECONDS}s:\n{server.log_tail()}"
    )


# ------------------------------------------------------------------------------------------ SDK scripts

# Prepended to every script: the SDK client pointed at the server, plus two helpers.
PRELUDE = '''\
import json, os, sys, time
from nextmv.cloud import Application, Client

URL, KEY = os.environ["RY_URL"], os.environ["RY_KEY"]
client = Client(api_key=KEY, url=URL)
TERMINAL = ("succeeded", "failed", "canceled")


def emit(value):
    """The script's result: JSON on the last stdout line."""
    print(json.dumps(value, default=str))


def http_status(exc):
    """Status code of an SDK HTTPError (0.28.5 keeps the response on ``__cause__``)."""
    for err in (exc, exc.__cause__):
        if getattr(err, "response", None) is not None:
            return err.response.status_code
    return None


def wait_terminal(app, run_id, interval=0.05, timeout=300):
    """Poll ``run_metadata`` until the run reaches a terminal ``status_v2``; returns the last info."""
    deadline = time.monotonic() + timeout
    while True:
        info = app.run_metadata(run_id)
        if info.metadata.status_v2.value in TERMINAL:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {info.metadata.status_v2.value}")
        time.sleep(interval)


def running_sleeper(app, instance_id, sleep, timeout=180):
    """A ``ctl-json`` run that sleeps ``sleep`` seconds, once its first log line shows its process going;
    returns (run id, its ``status_v2`` then)."""
    run_id = app.new_run(input={"k": 1}, instance_id=instance_id, options={"lines": "1", "sleep": str(sleep)})
    deadline = time.monotonic() + timeout
    while "ctl-json: line 0" not in app.run_logs(run_id).log and time.monotonic() < deadline:
        time.sleep(0.1)
    return run_id, app.run_metadata(run_id).metadata.status_v2.value


def deploy(app_id, app_dir):
    """new app + push + one version + one instance; returns (app, version_id, instance_id)."""
    app = Application.new(client=client, name=app_id, id=app_id)
    app.push(app_dir=app_dir)
    version = app.new_version(id=app_id + "-v1", name="v1")
    instance = app.new_instance(version_id=version.id, id=app_id + "-i1", name="i1")
    return app, version.id, instance.id

# ---- test script ----
'''


@dataclass
class SdkRunner:
    """Runs scripts against one server with one SDK generation."""

    version: str
    venv: Venv
    server: Server
    workdir: Path
    _count: int = field(default=0, repr=False)

    def run(self, script: str, *, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
        """Run ``script`` (after the prelude) with the SDK venv's python; return its last stdout line as JSON."""
        self._count += 1
        path = self.workdir / f"step{self._count}_sdk{self.version.replace('.', '')}.py"
        path.write_text(PRELUDE + textwrap.dedent(script).strip() + "\n")
        proc_env = _server_env(RY_URL=self.server.url, RY_KEY=self.server.key)
        proc_env.update(env or {})
        # 0.28.5's push runs `python3 -m pip` from PATH, 1.13.0's uses uv: both must come from this venv.
        proc_env["PATH"] = f"{self.venv.bin}{os.pathsep}{proc_env.get('PATH', '')}"
        proc_env["VIRTUAL_ENV"] = str(self.venv.path)
        try:
            proc = subprocess.run(
                [str(self.venv.python), str(path)],
                cwd=self.workdir,
                env=proc_env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                self._report(path, f"timed out after {timeout}s", exc.stdout, exc.stderr), pytrace=False
            )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0 or not lines:
            pytest.fail(
                self._report(path, f"exit code {proc.returncode}", proc.stdout, proc.stderr), pytrace=False
            )
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pytest.fail(
                self._report(path, "last stdout line is not JSON", proc.stdout, proc.stderr), pytrace=False
            )

    def _report(self, path: Path, what: str, stdout: Any, stderr: Any) -> str:
        def text(value: Any) -> str:
            value = value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
            return "\n".join(value.splitlines()[-60:])

        return (
            f"nextmv {self.version} script {path} ({self.server.backend}): {what}\n"
            f"---- stdout ----\n{text(stdout)}\n---- stderr ----\n{text(stderr)}\n"
            f"{LOG_MARKER}\n{self.server.log_tail()}"
        )


def copy_app(name: str, dest: Path) -> Path:
    """Copy a test app out of the source tree (the SDKs may write next to the files they package)."""
    target = dest / name
    shutil.copytree(APPS / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target

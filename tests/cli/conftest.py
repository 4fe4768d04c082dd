"""The ``runyard`` CLI driven by typer's ``CliRunner`` against a real server on a loopback port.

One server per test (uvicorn in a background thread), on SQLite and on PostgreSQL through the
``database_url`` fixture. The CLI runs in-process with a clean environment: ``HOME`` is the test's
tmp dir (so no real profile is read) and only the variables a test passes are set.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runyard import cloud
from runyard.cli.main import app as cli_app
from runyard.testing.servers import embedded_settings, serve_in_thread

ECHO_APP = Path(__file__).resolve().parents[1] / "sdk" / "apps" / "echo"
SERVER_KEY = "ry-cli-test-key"
CLEARED = ("RUNYARD_ENDPOINT", "RUNYARD_API_KEY", "RUNYARD_PROFILE", "NEXTMV_ENDPOINT", "NEXTMV_API_KEY",
           "NEXTMV_PROFILE", "RUNYARD_DEBUG")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class LiveServer:
    url: str
    key: str

    def client(self, key: str | None = None) -> cloud.Client:
        return cloud.Client(api_key=key or self.key, url=self.url)


@dataclass
class Cli:
    """Runs ``runyard …`` in-process with a controlled environment."""

    home: Path
    env: dict[str, str | None] = field(default_factory=dict)

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Any:
        base: dict[str, str | None] = {name: None for name in CLEARED}
        base.update({"HOME": str(self.home), "COLUMNS": "200", **self.env, **(env or {})})
        result = CliRunner().invoke(cli_app, list(args), input=input, env=base)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"runyard {' '.join(args)} raised {result.exception!r}") from result.exception
        return result

    def ok(self, *args: str, **kwargs: Any) -> Any:
        """Run and expect exit code 0; returns the result."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, f"runyard {' '.join(args)} exited {result.exit_code}:\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Run with ``--output json``, expect exit 0, and parse stdout."""
        return json.loads(self.ok(*args, "--output", "json", **kwargs).stdout)

    def fails(self, *args: str, **kwargs: Any) -> str:
        """Run, expect exit code 1 with one error line on stderr and no traceback; returns that line."""
        result = self(*args, **kwargs)
        assert result.exit_code == 1, f"runyard {' '.join(args)} exited {result.exit_code}:\n{result.stdout}\n{result.stderr}"
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
        assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        return lines[0]


@pytest.fixture(scope="session")
def cli_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One app-environment cache for every server of the session."""
    return tmp_path_factory.mktemp("cli-app-envs")


@pytest.fixture
def live_server(database_url: str, tmp_path: Path, cli_env_dir: Path) -> Iterator[LiveServer]:
    """``runyard``'s real app served by uvicorn on 127.0.0.1 in a background thread."""
    settings = embedded_settings(data_dir=tmp_path / "data", database_url=database_url, api_key=SERVER_KEY, env_dir=cli_env_dir)
    with serve_in_thread(settings, name="runyard-cli-test-server") as url:
        yield LiveServer(url, SERVER_KEY)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def offline(home: Path) -> Cli:
    """The CLI with nothing configured."""
    return Cli(home)


@pytest.fixture
def runyard(live_server: LiveServer, home: Path) -> Cli:
    """The CLI pointed at ``live_server`` through ``RUNYARD_ENDPOINT`` / ``RUNYARD_API_KEY``."""
    return Cli(home, {"RUNYARD_ENDPOINT": live_server.url, "RUNYARD_API_KEY": live_server.key})


@pytest.fixture
def echo_dir(tmp_path: Path) -> Path:
    """A copy of the echo app (JSON in → {"solution": input}; options sleep and fail)."""
    return Path(shutil.copytree(ECHO_APP, tmp_path / "echo"))


@dataclass
class Deployed:
    app_id: str
    version_id: str
    instance_id: str


@pytest.fixture
def deployed(live_server: LiveServer, echo_dir: Path) -> Deployed:
    """The echo app pushed with the SDK, with one version and one instance."""
    app_id = unique("app")
    with live_server.client() as client:
        app = cloud.Application.new(client=client, name=app_id, id=app_id)
        app.push(app_dir=str(echo_dir))
        version = app.new_version(id=f"{app_id}-v1", name="v1")
        instance = app.new_instance(version_id=version.id, id=f"{app_id}-i1", name="i1")
    return Deployed(app_id, version.id, instance.id)


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"stops": 3}))
    return path


def wait_for(predicate: Any, what: str, timeout: float = 60) -> Any:
    """Poll ``predicate`` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


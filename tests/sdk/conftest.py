"""A real Runyard server on a loopback port (uvicorn in a thread) for the SDK to talk to.

One server per test, on SQLite and on PostgreSQL (the ``database_url`` fixture). Every server of the
session shares one app-environment cache, so the echo app's environment is built once.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runyard import cloud
from runyard.testing.servers import embedded_settings, serve_in_thread

APPS = Path(__file__).resolve().parent / "apps"
SERVER_KEY = "ry-sdk-test-key"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class LiveServer:
    url: str
    key: str

    def client(self, **kwargs: object) -> cloud.Client:
        options: dict[str, object] = {"api_key": self.key, "url": self.url, **kwargs}
        return cloud.Client(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sdk_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdk-app-envs")


@pytest.fixture
def live_server(database_url: str, tmp_path: Path, sdk_env_dir: Path) -> Iterator[LiveServer]:
    """``runyard``'s real app served by uvicorn on 127.0.0.1 in a background thread."""
    settings = embedded_settings(data_dir=tmp_path / "data", database_url=database_url, api_key=SERVER_KEY, env_dir=sdk_env_dir)
    with serve_in_thread(settings, name="runyard-sdk-test-server") as url:
        yield LiveServer(url, SERVER_KEY)


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[cloud.Client]:
    with live_server.client() as c:
        yield c


@pytest.fixture
def app_dir(tmp_path: Path) -> Callable[[str], Path]:
    """``app_dir("echo")`` copies a test app out of ``apps/`` (pushes package from a copy)."""
    return lambda name: Path(shutil.copytree(APPS / name, tmp_path / "apps" / name))


@dataclass
class Deployed:
    app: cloud.Application
    version: cloud.Version
    instance: cloud.Instance


@pytest.fixture
def deployed(client: cloud.Client, app_dir: Callable[[str], Path]) -> Deployed:
    """The echo app pushed with the SDK, with one version and one instance."""
    app_id = unique("app")
    app = cloud.Application.new(client=client, name=app_id, id=app_id)
    app.push(app_dir=str(app_dir("echo")))
    version = app.new_version(id=f"{app_id}-v1", name="v1")
    instance = app.new_instance(version_id=version.id, id=f"{app_id}-i1", name="i1")
    return Deployed(app, version, instance)

"""Fixtures for the compat suite: a real server per database backend and the two official SDKs."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import (
    LOG_MARKER,
    SDK029,
    SDK_VERSIONS,
    TEMPLATE,
    SdkRunner,
    Server,
    Venv,
    copy_app,
    sdk_venv,
    start_server,
)

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def app_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One app-environment cache for every server of the session, so uv-built envs are reused."""
    return tmp_path_factory.mktemp("app-envs")


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, app_env_dir: Path
) -> Iterator[Server]:
    """A running ``runyard serve``, once on SQLite and once on PostgreSQL."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_cluster").create_database()
    base_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    try:
        srv = start_server(
            backend=request.param, base_dir=base_dir, env_dir=app_env_dir, database_url=database_url
        )
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def sdk028_venv() -> Venv:
    return sdk_venv("0.28.5")


@pytest.fixture(scope="session")
def sdk113_venv() -> Venv:
    return sdk_venv("1.13.0")


@pytest.fixture(scope="session")
def sdk029_venv() -> Venv:
    return sdk_venv(SDK029)


@pytest.fixture
def sdk028(server: Server, sdk028_venv: Venv, tmp_path: Path) -> SdkRunner:
    """Runs scripts with nextmv 0.28.5 against ``server``."""
    return SdkRunner("0.28.5", sdk028_venv, server, tmp_path)


@pytest.fixture
def sdk113(server: Server, sdk113_venv: Venv, tmp_path: Path) -> SdkRunner:
    """Runs scripts with nextmv 1.13.0 against ``server``."""
    return SdkRunner("1.13.0", sdk113_venv, server, tmp_path)


@pytest.fixture
def sdk029(server: Server, sdk029_venv: Venv, tmp_path: Path) -> SdkRunner:
    """Runs scripts with nextmv 0.29.4 (``new_run(dir_path=…)``) against ``server``."""
    return SdkRunner(SDK029, sdk029_venv, server, tmp_path)


@pytest.fixture(params=SDK_VERSIONS, ids=["sdk028", "sdk113"])
def sdk(request: pytest.FixtureRequest, server: Server) -> SdkRunner:
    """Either SDK generation, for calls that exist in both (``server`` named so it parametrizes these too)."""
    return request.getfixturevalue("sdk028" if request.param.startswith("0.") else "sdk113")


@pytest.fixture
def app_dir(tmp_path: Path) -> Callable[[str], Path]:
    """``app_dir("echo-json")`` copies a test app from ``apps/`` into the test's tmp dir."""
    return lambda name: copy_app(name, tmp_path / "apps")


@pytest.fixture
def hello_world_template(sdk113_venv: Venv, tmp_path: Path) -> Path:
    """The official ``python_json_hello-world`` template, copied out of the 1.13.0 wheel."""
    source = sdk113_venv.site_packages() / "nextmv" / "templates" / TEMPLATE
    return Path(shutil.copytree(source, tmp_path / TEMPLATE))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the server's log tail to every failing test that used a server."""
    report = yield
    srv = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(srv, Server) and LOG_MARKER not in report.longreprtext:
        report.sections.append((f"runyard server log, {srv.backend} (tail)", srv.log_tail()))
    return report

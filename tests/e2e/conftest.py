"""Fixtures for the console's browser tests: a real ``runyard serve``, headless Chromium driven by
Playwright, screenshots that must not be blank, and axe-core accessibility checks.

Chromium is Debian's (``apt-get install chromium``; Playwright's own download is not used). axe-core is
fetched from npm (``npm pack``) into ``.cache/e2e`` the first time. In CI both must be present: a missing
one fails the suite instead of skipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from compat.harness import REPO, SdkRunner, Server, sdk_venv, start_server

AXE_VERSION = "4.14.1"
CACHE = REPO / ".cache" / "e2e"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000  # a loaded CI machine: generous, and every wait is for a condition
BLOCKING_IMPACTS = ("serious", "critical")

try:
    from playwright import sync_api as playwright_sync
except ImportError:  # the test extra installs it
    playwright_sync = None


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is needed by the console tests", pytrace=False)
    pytest.skip(f"{what} is not available here")


def chromium_path() -> str | None:
    """Debian's Chromium (``RUNYARD_CHROMIUM`` overrides)."""
    for candidate in (os.environ.get("RUNYARD_CHROMIUM"), "chromium", "chromium-browser", "/usr/lib/chromium/chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@dataclass
class ConsoleServer:
    """A running server and two keys of its default account: an admin's and a viewer's."""

    server: Server
    admin_key: str
    viewer_key: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="package")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """``runyard serve`` on SQLite, on a loopback port."""
    base = tmp_path_factory.mktemp("console-server")
    env_dir = tmp_path_factory.mktemp("console-app-envs")
    try:
        server = start_server(backend="sqlite", base_dir=base, env_dir=env_dir)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    viewer = server.api("POST", "v1/admin/accounts/default/keys", json={"name": "viewer key", "role": "viewer"})
    assert viewer.status_code in (200, 201), viewer.text
    yield ConsoleServer(server=server, admin_key=server.key, viewer_key=viewer.json()["key"])
    server.stop()


@pytest.fixture(scope="package")  # ended with the last e2e test: its event loop would stop asyncio.run() in later tests
def browser() -> Iterator[Any]:
    if playwright_sync is None:
        _missing("playwright (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        _missing("Chromium (apt-get install chromium)")
    with playwright_sync.sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
        launched = pw.chromium.launch(executable_path=path, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, console_server: ConsoleServer) -> Iterator[Callable[..., Any]]:
    """``new_page()``: a fresh browser context (own cookies) at 1280×800, not signed in."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(viewport=VIEWPORT, base_url=console_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, key: str, path: str = "/") -> None:
    """Sign in through the form, as a user does: the "API key" field and the "Sign in" button."""
    page.goto(path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


@pytest.fixture
def page(new_page: Callable[..., Any], console_server: ConsoleServer) -> Any:
    """A page signed in with the admin key."""
    p = new_page()
    sign_in(p, console_server.admin_key)
    return p


@pytest.fixture
def viewer_page(new_page: Callable[..., Any], console_server: ConsoleServer) -> Any:
    """A page signed in with the viewer key."""
    p = new_page()
    sign_in(p, console_server.viewer_key)
    return p


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shot(page, name)``: a screenshot under tests/e2e/screenshots/, which must not be blank."""
    from PIL import Image

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        path = SCREENSHOTS / f"{test}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as image:
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 8, f"screenshot {path.name} is blank ({len(colours)} colours)"
        return path

    return take


def axe_source() -> str:
    """axe-core's browser build, from npm (cached)."""
    target = CACHE / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if target.exists():
        return target.read_text()
    npm = shutil.which("npm")
    if npm is None:
        _missing("npm (apt-get install nodejs npm), to fetch axe-core")
    target.parent.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(target.parent), "--json"],
                            capture_output=True, text=True, timeout=300, check=False)
    if packed.returncode != 0:
        _missing(f"axe-core@{AXE_VERSION} from npm ({packed.stderr.strip()[-300:]})")
    tarball = target.parent / json.loads(packed.stdout)[0]["filename"]
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/axe.min.js")
        assert member is not None
        target.write_bytes(member.read())
    tarball.unlink()
    return target.read_text()


@pytest.fixture(scope="session")
def axe_script() -> str:
    return axe_source()


@pytest.fixture
def axe(axe_script: str) -> Callable[..., list[dict[str, Any]]]:
    """``axe(page)``: run axe-core on the page as it stands; fails on serious or critical violations."""

    def check(page: Any, *, context: str = "page") -> list[dict[str, Any]]:
        # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern.
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(f"() => {{ {axe_script}\n; window.axe = axe; }}")
        results = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
        violations = results["violations"]
        blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
        described = "\n".join(f"- {v['id']} ({v['impact']}): {v['help']}: "
                              + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                                          for n in v["nodes"][:5]) for v in blocking)
        assert not blocking, f"axe-core found serious or critical problems on the {context}:\n{described}"
        return violations

    return check


@pytest.fixture(scope="session")
def sdk113_venv_e2e() -> Any:
    return sdk_venv("1.13.0")


@pytest.fixture
def sdk(console_server: ConsoleServer, sdk113_venv_e2e: Any, tmp_path: Path) -> SdkRunner:
    """Runs scripts with the official nextmv 1.13.0 SDK against the console's server (admin key)."""
    return SdkRunner("1.13.0", sdk113_venv_e2e, console_server.server, tmp_path)

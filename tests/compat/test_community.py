"""Community apps from a catalog folder (``RUNYARD_COMMUNITY_DIR``) through the official 1.13.0 SDK
(``community.list_community_apps``, ``clone_community_app``) and CLI (``nextmv community list|clone``),
as an air-gapped installation would offer its own templates. Without the setting the calls answer 501
(``test_not_available``).
"""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from .harness import SdkRunner, Server, Venv, copy_app, start_server
from .test_official_cli import HttpsFront, NextmvCli, _handler, self_signed

pytestmark = pytest.mark.compat


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    echo = copy_app("echo-json", root)
    (echo / "community.yaml").write_text("description: Echoes its JSON input\nversion: v1.2.0\n")
    routing = copy_app("ctl-json", root)
    shutil.move(routing, root / "routing-demo")
    (root / "routing-demo" / "community.yaml").write_text("description: A routing demo\n")
    (root / "routing-demo" / "escape").symlink_to("/etc/passwd")  # never packaged: links may point anywhere
    (root / "not-an-app").mkdir()  # no app.yaml, no community.yaml: not listed
    (root / "not-an-app" / "notes.txt").write_text("x")
    return root


@pytest.fixture(scope="module")
def catalog_server(catalog: Path, tmp_path_factory: pytest.TempPathFactory, app_env_dir: Path) -> Iterator[Server]:
    srv = start_server(backend="sqlite", base_dir=tmp_path_factory.mktemp("community-server"), env_dir=app_env_dir,
                       env={"RUNYARD_COMMUNITY_DIR": str(catalog)})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def catalog_front(catalog_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsFront]:
    cert, key = self_signed(tmp_path_factory.mktemp("community-tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(catalog_server.url))
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, name="community-front", daemon=True).start()
    host = f"127.0.0.1:{httpd.server_address[1]}"
    yield HttpsFront(f"https://{host}", host, cert)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cli(sdk113_venv: Venv, catalog_server: Server, catalog_front: HttpsFront, tmp_path: Path) -> NextmvCli:
    home = tmp_path / "home"
    (home / ".nextmv").mkdir(parents=True)
    (home / ".nextmv" / "config.yaml").write_text(f"apikey: {catalog_server.key}\nendpoint: {catalog_front.host}\n")
    return NextmvCli(sdk113_venv, catalog_server, catalog_front, home, tmp_path)


def test_sdk_lists_and_clones_the_catalog(sdk113_venv: Venv, catalog_server: Server, catalog: Path, tmp_path: Path) -> None:
    sdk = SdkRunner("1.13.0", sdk113_venv, catalog_server, tmp_path)
    out = sdk.run(
        """
        from nextmv.cloud import community
        import requests
        apps = [a.to_dict() for a in community.list_community_apps(client)]
        community.clone_community_app(client, "echo-json", directory="cloned")
        community.clone_community_app(client, "routing-demo", directory="routing", version="v1")
        try:
            community.clone_community_app(client, "echo-json", directory="old", version="v0.1")
            missing = None
        except ValueError as exc:
            missing = str(exc)
        emit({"apps": apps, "missing": missing})
        """
    )
    assert [(a["name"], a["type"], a["app_versions"], a["latest_app_version"]) for a in out["apps"]] == [
        ("echo-json", "python", ["v1.2.0"], "v1.2.0"),
        ("routing-demo", "python", ["v1"], "v1"),
    ]
    assert out["apps"][0]["description"] == "Echoes its JSON input"
    assert "v0.1" in out["missing"]
    expected = {k: v for k, v in _files(catalog / "echo-json").items() if k != "community.yaml"}
    assert _files(tmp_path / "cloned") == expected
    routing = _files(tmp_path / "routing")
    assert "escape" not in routing and "app.yaml" in routing and "community.yaml" not in routing


def test_download_urls_are_signed_and_catalog_bound(catalog_server: Server) -> None:
    r = catalog_server.api("GET", "v0/internal/tools", params={"file": "community-apps/manifest.yml"},
                           headers={"request-source": "cli"})
    url = r.json()["url"]
    assert catalog_server.api("GET", "v0/internal/tools", key=None, params={"file": "community-apps/manifest.yml"}).status_code == 401
    import requests

    assert "echo-json" in requests.get(url, timeout=30).text
    assert requests.get(url.replace("manifest.yml", "other.yml"), timeout=30).status_code == 403
    assert requests.get(url.replace("signature=", "signature=0"), timeout=30).status_code == 403
    for bad in ("community-apps/../../etc/passwd", "etc/passwd", "community-apps/echo-json/v9/echo-json_v9.tar.gz",
                "community-apps/not-an-app/v1/not-an-app_v1.tar.gz"):
        answer = catalog_server.api("GET", "v0/internal/tools", params={"file": bad})
        assert answer.status_code == 404 and "error" in answer.json(), bad


def test_official_cli_community_list_and_clone(cli: NextmvCli, catalog: Path, tmp_path: Path) -> None:
    listed = cli("community", "list", "--flat").stdout.split()
    assert listed == ["echo-json", "routing-demo"]
    table = cli("community", "list").stdout
    assert "A routing demo" in table and "v1.2.0" in table
    assert cli("community", "list", "--app", "echo-json", "--flat").stdout.split() == ["v1.2.0"]
    cli("community", "clone", "--app", "echo-json", "--directory", str(tmp_path / "from-cli"))
    expected = {k: v for k, v in _files(catalog / "echo-json").items() if k != "community.yaml"}
    assert _files(tmp_path / "from-cli") == expected

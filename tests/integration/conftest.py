"""An in-process server (real app, real database, real blobs) driven through its ASGI interface."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runyard.server.app import create_app
from runyard.settings import Settings

ADMIN_KEY = "test-admin-key"


def make_bundle(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


ECHO_APP = {
    "app.yaml": "type: python\nfiles: [main.py]\n",
    "main.py": "import json, sys\nd = json.load(sys.stdin)\nprint('got input', file=sys.stderr)\nprint(json.dumps({'solution': d}))\n",
}


class Api:
    """A thin client with the admin key; ``push`` performs the B1–B3 sequence."""

    def __init__(self, client: TestClient, key: str = ADMIN_KEY) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def __getattr__(self, method: str):  # type: ignore[no-untyped-def]
        verb = getattr(self.client, method)
        return lambda path, **kw: verb(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def push(self, app_id: str, files: dict[str, bytes | str] | bytes = ECHO_APP, requirements: dict | None = None):  # type: ignore[no-untyped-def]
        url = self.get(f"/v1/applications/{app_id}/binary").json()["upload_url"]
        body = files if isinstance(files, bytes) else make_bundle(files)
        assert self.client.put(url, content=body).status_code == 200
        req = requirements or {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}
        return self.put(f"/v1/applications/{app_id}/binary", json={"requirements": req})

    def new_app(self, app_id: str, push: bool = True) -> None:
        assert self.post("/v1/applications", json={"id": app_id, "name": app_id}).status_code == 200
        if push:
            assert self.push(app_id).status_code == 200


@pytest.fixture
def server_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY, executor="stub")


@pytest.fixture
def client(server_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(server_settings)) as c:
        yield c


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)

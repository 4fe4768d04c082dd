"""Secrets reach the app, and nowhere else: not the database, not the server log, not a viewer.

Runs on a real ``runyard serve`` so its log file and its own environment are the real ones.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import sqlalchemy as sa

from .apps import steps
from .conftest import new_tool_app, result, run_log, submit, wait_status

LICENSE_PATH = "licenses/x.lic"
RUNTIME_ENV = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONUNBUFFERED", "PYTHONIOENCODING",
               "NEXTMV_APP_ID", "NEXTMV_RUN_ID", "RUNYARD_EXECUTION_ID"}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{path} contains {n!r}" for n in needles if n in data]
    return hits


def _rows_containing(database_url: str, needles: list[str]) -> list[str]:
    """Every cell of every table, read back through SQLAlchemy (PostgreSQL has no file to grep here)."""
    engine = sa.create_engine(database_url)
    hits = []
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    text = " ".join(map(str, row))
                    hits += [f"{table.name} contains {n!r}" for n in needles if n in text]
    finally:
        engine.dispose()
    return hits


def test_secrets_reach_the_app_and_nowhere_else(server_process, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env_secret = "env-secret-" + uuid.uuid4().hex
    file_secret = "file-secret-" + uuid.uuid4().hex
    sentinel = "server-sentinel-" + uuid.uuid4().hex
    server = server_process(RUNYARD_TEST_SENTINEL=sentinel)
    api = server.api()
    app = new_tool_app(api, "secrets")
    body = {"id": "licenses", "name": "licenses", "secrets": [
        {"type": "env", "location": "ACME_LICENSE_KEY", "value": env_secret},
        {"type": "file", "location": LICENSE_PATH, "value": file_secret},
    ]}
    assert api.post(f"/v1/applications/{app}/secrets", json=body).status_code == 200

    run_input = steps({"secrets": {"env": "ACME_LICENSE_KEY", "file": LICENSE_PATH}}, {"env_has": sentinel},
                      {"log": "checked"})
    run_id = submit(api, app, run_input, configuration={"secrets_collection_id": "licenses"})
    meta = wait_status(api, app, run_id)
    assert meta["status_v2"] == "succeeded", run_log(api, app, run_id)
    assert meta["secrets_collection_id"] == "licenses"
    seen = result(api, app, run_id)["output"]["solution"]
    assert seen["secret_env"] == _sha(env_secret)
    assert seen["secret_file"] == _sha(file_secret)
    # The server's own environment does not leak into the app: it sees exactly what the runtime sets.
    assert set(seen["env_names"]) == RUNTIME_ENV | {"ACME_LICENSE_KEY"}
    assert seen["env_has"] == {sentinel: False}
    # A run without the collection sees neither secret.
    plain = submit(api, app, run_input)
    assert wait_status(api, app, plain)["status_v2"] == "succeeded"
    seen = result(api, app, plain)["output"]["solution"]
    assert seen["secret_env"] is None and seen["secret_file"] is None
    assert set(seen["env_names"]) == RUNTIME_ENV

    # A viewer reads masked values; a developer (here the admin) reads them in clear.
    viewer_key = api.post("/v1/admin/accounts/default/keys", json={"role": "viewer", "name": "v"}).json()["key"]
    masked = server.api(viewer_key).get(f"/v1/applications/{app}/secrets/licenses")
    assert masked.status_code == 200
    assert {s["location"] for s in masked.json()["secrets"]} == {"ACME_LICENSE_KEY", LICENSE_PATH}
    assert env_secret not in masked.text and file_secret not in masked.text
    clear = api.get(f"/v1/applications/{app}/secrets/licenses").json()
    assert {s["value"] for s in clear["secrets"]} == {env_secret, file_secret}

    # Unknown collections, and another app's collection, are 404 and store no run.
    runs_before = api.get(f"/v1/applications/{app}/runs").json()["runs"]
    response = api.post(f"/v1/applications/{app}/runs",
                        json={"input": steps(), "configuration": {"secrets_collection_id": "nope"}})
    assert response.status_code == 404 and "nope" in response.json()["error"]
    other = new_tool_app(api, "other")
    response = api.post(f"/v1/applications/{other}/runs",
                        json={"input": steps(), "configuration": {"secrets_collection_id": "licenses"}})
    assert response.status_code == 404
    assert api.get(f"/v1/applications/{app}/runs").json()["runs"] == runs_before

    server.stop()
    needles = [env_secret, file_secret]
    server_log = server.log_path.read_text(errors="replace")
    assert "listening on" in server_log and env_secret not in server_log and file_secret not in server_log
    # No file of this test (database and its WAL when SQLite, blobs, logs, workspaces) holds a value.
    assert _files_containing(tmp_path, [n.encode() for n in needles]) == []
    assert _rows_containing(database_url, needles) == []

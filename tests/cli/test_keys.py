"""``runyard keys``: through the admin API when a server is configured, else on a local data dir."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, LiveServer, unique


def test_keys_through_the_admin_api(runyard: Cli, live_server: LiveServer) -> None:
    issued = runyard.json("keys", "create", "--role", "developer", "--name", "ci")
    assert issued["key"].startswith("ry_") and issued["role"] == "developer" and issued["account_id"] == "default"

    # the new key works on its own
    app_id = unique("app")
    runyard.ok("app", "create", app_id, "--api-key", issued["key"])
    assert app_id in [a["id"] for a in runyard.json("app", "list", "--api-key", issued["key"])]

    listed = runyard.json("keys", "list")
    mine = next(k for k in listed if k["id"] == issued["id"])
    assert mine["name"] == "ci" and mine["revoked_at"] is None and "key" not in mine
    assert issued["id"] in runyard.ok("keys", "list").stdout

    # table mode prints the secret alone on stdout, the remark on stderr
    plain = runyard.ok("keys", "create", "--name", "shell")
    assert plain.stdout.strip().startswith("ry_") and len(plain.stdout.strip().split()) == 1
    assert "shown only now" in plain.stderr

    assert runyard.json("keys", "revoke", issued["id"]) == {"id": issued["id"], "revoked": True}
    assert "not valid" in runyard.fails("app", "list", "--api-key", issued["key"])
    assert next(k for k in runyard.json("keys", "list") if k["id"] == issued["id"])["revoked_at"]


def test_keys_need_an_admin(runyard: Cli) -> None:
    viewer = runyard.json("keys", "create", "--role", "viewer")["key"]
    line = runyard.fails("keys", "list", "--api-key", viewer)
    assert "HTTP 403" in line and "request id" in line


def test_keys_on_a_local_data_dir_bootstrap_a_server(offline: Cli, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    issued = offline.json("keys", "create", "--data-dir", data_dir, "--role", "admin", "--name", "first")
    assert issued["key"].startswith("ry_") and issued["role"] == "admin"
    listed = offline.json("keys", "list", "--data-dir", data_dir)
    assert [k["id"] for k in listed] == [issued["id"]]
    offline.ok("keys", "revoke", issued["id"], "--data-dir", data_dir)
    assert offline.json("keys", "list", "--data-dir", data_dir)[0]["revoked_at"]
    assert "does not exist" in offline.fails("keys", "revoke", "key-nope", "--data-dir", data_dir)
    assert "role must be one of" in offline.fails("keys", "create", "--data-dir", data_dir, "--role", "boss")

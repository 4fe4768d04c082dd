"""``runyard app``, ``version`` and ``instance`` against a real server."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, unique


def test_app_lifecycle_from_create_to_delete(runyard: Cli, echo_dir: Path) -> None:
    app_id = unique("app")
    created = runyard.json("app", "create", app_id, "--name", "Routing", "--description", "vans")
    assert created["id"] == app_id and created["name"] == "Routing" and created["description"] == "vans"
    assert set(created) >= {"id", "name", "description", "type", "created_at", "updated_at"}

    assert app_id in [a["id"] for a in runyard.json("app", "list")]
    shown = runyard.ok("app", "get", app_id).stdout
    assert "Routing" in shown and "vans" in shown

    pushed = runyard.ok("app", "push", app_id, "--dir", str(echo_dir))
    assert f"pushed {echo_dir}" in pushed.stdout
    assert "uploading" in pushed.stderr  # the progress bars go to stderr

    version = runyard.json("version", "create", app_id, "--id", "v1", "--name", "first")
    assert version["id"] == "v1" and version["application_id"] == app_id and version["executable"]["id"]
    assert [v["id"] for v in runyard.json("version", "list", app_id)] == ["v1"]

    instance = runyard.json("instance", "create", app_id, "i1", "--version", "v1", "--option", "sleep=0")
    assert instance["version_id"] == "v1" and instance["configuration"]["options"] == {"sleep": "0"}
    runyard.json("version", "create", app_id, "--id", "v2")
    updated = runyard.json("instance", "update", app_id, "i1", "--version", "v2", "--description", "moved")
    assert updated["version_id"] == "v2" and updated["description"] == "moved"
    listed = runyard.ok("instance", "list", app_id).stdout
    assert "i1" in listed and "v2" in listed

    assert runyard.json("app", "delete", app_id, "--yes") == {"id": app_id, "deleted": True}
    assert "does not exist" in runyard.fails("app", "get", app_id)


def test_delete_without_yes_refuses_when_it_cannot_ask(runyard: Cli) -> None:
    app_id = unique("app")
    runyard.ok("app", "create", app_id)
    assert "--yes" in runyard.fails("app", "delete", app_id)
    assert runyard.json("app", "get", app_id)["id"] == app_id


def test_push_of_a_directory_without_app_yaml_is_one_line(runyard: Cli, tmp_path: Path) -> None:
    app_id = unique("app")
    runyard.ok("app", "create", app_id)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no app.yaml" in runyard.fails("app", "push", app_id, "--dir", str(empty))

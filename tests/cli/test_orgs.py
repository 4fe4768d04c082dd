"""``runyard org …`` (organizations, members, member keys) and ``runyard community list|clone``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.testing.servers import embedded_settings, serve_in_thread

from .conftest import SERVER_KEY, Cli, LiveServer, unique


def test_org_lifecycle_members_and_keys(runyard: Cli) -> None:
    org = runyard.json("org", "create", "--name", "Hare Delivery", "--admin", "bugs@acme.example,roger@toon.example")
    org_id = org["id"]
    assert [(m["email"], m["role"], m["pending_invite"]) for m in org["members"]] == [
        ("bugs@acme.example", "admin", True), ("roger@toon.example", "admin", True)]

    admin_key = runyard.ok("org", "members", "key", org_id, "bugs@acme.example").stdout.strip()
    assert admin_key.startswith("ry_")
    as_admin = {"RUNYARD_API_KEY": admin_key}
    assert runyard.json("org", "get", org_id, env=as_admin)["members"][0]["pending_invite"] is False

    runyard.ok("org", "members", "add", org_id, "ops@acme.example", "--role", "operator", env=as_admin)
    ops = runyard.json("org", "members", "key", org_id, "ops@acme.example", env=as_admin)
    assert ops["role"] == "operator" and ops["member_email"] == "ops@acme.example"
    table = runyard.ok("org", "members", "list", org_id, env=as_admin).stdout
    assert "ops@acme.example" in table and "operator" in table and "pending" in table  # roger still pending

    # The organization is the member's account: apps made with their key are the organization's.
    app_id = unique("app")
    runyard.ok("app", "create", app_id, env=as_admin)
    assert app_id not in [a["id"] for a in runyard.json("app", "list")]

    assert runyard.json("org", "update", org_id, "--name", "Hare Express", env=as_admin)["name"] == "Hare Express"
    assert "403" in runyard.fails("org", "update", org_id, "--name", "x", "--api-key", ops["key"])
    runyard.ok("org", "members", "remove", org_id, "ops@acme.example", env=as_admin)
    assert "not valid" in runyard.fails("app", "list", "--api-key", ops["key"])

    assert runyard.json("org", "delete", org_id, "--yes", env=as_admin) == {"id": org_id, "deleted": True}
    assert "404" in runyard.fails("org", "get", org_id)
    assert "not valid" in runyard.fails("app", "list", "--api-key", admin_key)


def test_org_errors_are_one_line(runyard: Cli) -> None:
    assert "not an email" in runyard.fails("org", "create", "--name", "x", "--admin", "nobody")
    assert "404" in runyard.fails("org", "get", "acct-missing")
    viewer = runyard.json("keys", "create", "--role", "viewer")["key"]
    assert "403" in runyard.fails("org", "create", "--name", "x", "--admin", "a@b.example", "--api-key", viewer)


@pytest.fixture
def catalog_server(database_url: str, tmp_path: Path, cli_env_dir: Path) -> Iterator[LiveServer]:
    catalog = tmp_path / "catalog"
    (catalog / "knapsack" / "src").mkdir(parents=True)
    (catalog / "knapsack" / "app.yaml").write_text("type: python\nruntime: ghcr.io/nextmv-io/runtime/python:3.11\n")
    (catalog / "knapsack" / "src" / "main.py").write_text("print('{}')\n")
    (catalog / "knapsack" / "community.yaml").write_text("description: A knapsack model\nversion: v2\n")
    settings = embedded_settings(data_dir=tmp_path / "data", database_url=database_url, api_key=SERVER_KEY,
                                 env_dir=cli_env_dir).model_copy(update={"community_dir": catalog})
    with serve_in_thread(settings, name="runyard-cli-community") as url:
        yield LiveServer(url, SERVER_KEY)


def test_community_list_and_clone(catalog_server: LiveServer, home: Path, tmp_path: Path) -> None:
    cli = Cli(home, {"RUNYARD_ENDPOINT": catalog_server.url, "RUNYARD_API_KEY": catalog_server.key})
    listed = cli.json("community", "list")
    assert [(a["name"], a["type"], a["latest_app_version"]) for a in listed] == [("knapsack", "python", "v2")]
    assert "A knapsack model" in cli.ok("community", "list").stdout
    target = tmp_path / "mine"
    cli.ok("community", "clone", "knapsack", "--directory", str(target))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == ["app.yaml", "src/main.py"]
    assert "not empty" in cli.fails("community", "clone", "knapsack", "--directory", str(target))
    assert "version" in cli.fails("community", "clone", "knapsack", "--version", "v9", "--directory", str(tmp_path / "x"))


def test_community_without_a_catalog_says_how_to_offer_one(runyard: Cli) -> None:
    line = runyard.fails("community", "list")
    assert "501" in line and "RUNYARD_COMMUNITY_DIR" in line

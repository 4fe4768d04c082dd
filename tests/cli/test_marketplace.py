"""``runyard marketplace …``: publish from one account, subscribe and run from another."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, Deployed


def test_publish_subscribe_and_run(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    mine = runyard.json("org", "get")
    assert mine["id"] == "default"
    made = runyard.json("marketplace", "publish", deployed.app_id, "--title", "Echo for all", "--description", "echoes")
    assert made["state"] == "pre-release" and made["ref_app_id"] == deployed.app_id
    runyard.ok("marketplace", "publish-version", deployed.app_id, "--version", deployed.version_id, "--change", "first")
    assert runyard.json("marketplace", "release", deployed.app_id)["state"] == "released"
    shown = runyard.json("marketplace", "get", deployed.app_id)
    assert [v["id"] for v in shown["versions"]] == [deployed.version_id]

    org = runyard.json("org", "create", "--name", "Team B", "--admin", "b@team.example")
    b_key = runyard.ok("org", "members", "key", org["id"], "b@team.example").stdout.strip()
    as_b = {"RUNYARD_API_KEY": b_key}
    assert runyard.json("org", "get", env=as_b)["id"] == org["id"]
    sub_id = f"default-{deployed.app_id}"
    assert sub_id in runyard.ok("marketplace", "list", env=as_b).stdout
    assert runyard.json("marketplace", "subscribe", sub_id, env=as_b)["app_title"] == "Echo for all"
    result = runyard.json("run", "submit", sub_id, "--input", str(input_file), "--wait", env=as_b)
    assert result["metadata"]["status_v2"] == "succeeded"
    assert result["output"]["solution"] == {"stops": 3}
    assert [s["subscription_id"] for s in runyard.json("marketplace", "subscriptions", env=as_b)] == [sub_id]
    assert "404" in runyard.fails("app", "get", deployed.app_id, env=as_b)
    assert "404" in runyard.fails("marketplace", "retract", deployed.app_id, env=as_b)  # only its partner can
    runyard.ok("marketplace", "unsubscribe", sub_id, "--yes", env=as_b)
    assert runyard.json("marketplace", "subscriptions", env=as_b) == []

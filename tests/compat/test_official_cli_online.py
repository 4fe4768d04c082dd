"""The official 1.13.0 CLI's ``nextmv cloud shadow|switchback|ensemble`` commands against Runyard
(over the TLS front of ``test_official_cli``, which the 1.13.0 CLI needs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .harness import copy_app
from .test_official_cli import NextmvCli, _deploy, https_front, nextmv  # noqa: F401

pytestmark = pytest.mark.compat


@pytest.fixture
def cli_app(nextmv: NextmvCli, tmp_path: Path) -> tuple[str, str]:  # noqa: F811
    app_id, instance_id = _deploy(nextmv, copy_app("ctl-json", tmp_path / "apps"))
    nextmv("cloud", "instance", "create", "--app-id", app_id, "--version-id", "v1", "--instance-id", "i2", "--name", "i2")
    return app_id, instance_id


def test_shadow_commands(nextmv: NextmvCli, cli_app: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    app_id, base = cli_app
    app = ("--app-id", app_id)
    made = nextmv.json("cloud", "shadow", "create", *app, "--shadow-test-id", "sh1", "--comparisons",
                       json.dumps({base: ["i2"]}), "--termination-maximum-runs", "1")
    assert made["id"] == "sh1" and made["status"] == "draft"
    nextmv("cloud", "shadow", "start", *app, "--shadow-test-id", "sh1")
    assert nextmv.json("cloud", "shadow", "metadata", *app, "--shadow-test-id", "sh1")["status"] == "started"
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"stops": [1]}))
    nextmv.json("cloud", "run", "create", *app, "--instance-id", base, "--input", str(data), "--wait", "--timeout", "120")
    test = nextmv.json("cloud", "shadow", "get", *app, "--shadow-test-id", "sh1")
    assert sorted(r["application_instance_id"] for r in test["runs"]) == sorted([base, "i2"])
    assert nextmv.json("cloud", "shadow", "update", *app, "--shadow-test-id", "sh1", "--name", "n2")["name"] == "n2"
    assert [t["id"] for t in nextmv.json("cloud", "shadow", "list", *app)] == ["sh1"]
    nextmv.json("cloud", "shadow", "create", *app, "--shadow-test-id", "sh2", "--comparisons",
                json.dumps({base: ["i2"]}), "--termination-maximum-runs", "5")
    nextmv("cloud", "shadow", "stop", *app, "--shadow-test-id", "sh2", "--intent", "cancel")
    assert nextmv.json("cloud", "shadow", "metadata", *app, "--shadow-test-id", "sh2")["status"] == "canceled"
    nextmv("cloud", "shadow", "delete", *app, "--shadow-test-id", "sh2", "--yes")
    nextmv("cloud", "shadow", "get", *app, "--shadow-test-id", "sh2", expect=1)


def test_switchback_commands(nextmv: NextmvCli, cli_app: tuple[str, str]) -> None:  # noqa: F811
    app_id, base = cli_app
    app = ("--app-id", app_id)
    made = nextmv.json("cloud", "switchback", "create", *app, "--switchback-test-id", "sw1", "--baseline-instance-id", base,
                       "--candidate-instance-id", "i2", "--unit-duration-minutes", "30", "--units", "6")
    assert made["status"] == "draft" and len(made["plan"]["units"]) == 6
    nextmv("cloud", "switchback", "start", *app, "--switchback-test-id", "sw1")
    assert nextmv.json("cloud", "switchback", "metadata", *app, "--switchback-test-id", "sw1")["status"] == "started"
    got = nextmv.json("cloud", "switchback", "get", *app, "--switchback-test-id", "sw1")
    assert got["plan"]["start"] and got["comparison"] == {"baseline_instance_id": base, "candidate_instance_id": "i2"}
    nextmv.json("cloud", "switchback", "update", *app, "--switchback-test-id", "sw1", "--description", "d")
    assert [t["id"] for t in nextmv.json("cloud", "switchback", "list", *app)] == ["sw1"]
    nextmv("cloud", "switchback", "stop", *app, "--switchback-test-id", "sw1", "--intent", "complete")
    assert nextmv.json("cloud", "switchback", "get", *app, "--switchback-test-id", "sw1")["status"] == "completed"
    nextmv("cloud", "switchback", "delete", *app, "--switchback-test-id", "sw1", "--yes")


def test_ensemble_commands(nextmv: NextmvCli, cli_app: tuple[str, str]) -> None:  # noqa: F811
    app_id, base = cli_app
    app = ("--app-id", app_id)
    rule = {"id": "r", "statistics_path": "$.result.value", "objective": "minimize",
            "tolerance": {"value": 0.1, "type": "relative"}, "index": 0}
    made = nextmv.json("cloud", "ensemble", "create", *app, "--ensemble-definition-id", "e1",
                       "--run-groups", json.dumps({"id": "g1", "instance_id": base}),
                       "--run-groups", json.dumps({"id": "g2", "instance_id": "i2", "repetitions": 2}),
                       "--rules", json.dumps(rule))
    assert [g["id"] for g in made["run_groups"]] == ["g1", "g2"] and made["rules"][0]["tolerance"]["type"] == "relative"
    assert nextmv.json("cloud", "ensemble", "get", *app, "--ensemble-definition-id", "e1")["id"] == "e1"
    assert nextmv.json("cloud", "ensemble", "update", *app, "--ensemble-definition-id", "e1", "--name", "x")["name"] == "x"
    assert [d["id"] for d in nextmv.json("cloud", "ensemble", "list", *app)] == ["e1"]
    nextmv("cloud", "ensemble", "delete", *app, "--ensemble-definition-id", "e1", "--yes")
    nextmv("cloud", "ensemble", "get", *app, "--ensemble-definition-id", "e1", expect=1)

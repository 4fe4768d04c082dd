"""Expected errors are one red line and exit 1; configuration comes from flags > env > profile."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer

from runyard.cli import config
from runyard.cli.main import app as cli_app
from runyard.testing.postgres import free_port

from .conftest import Cli, LiveServer, unique

NOWHERE = {"RUNYARD_ENDPOINT": "http://127.0.0.1:9", "RUNYARD_API_KEY": "k"}


def test_unknown_app_names_the_app_and_the_request(runyard: Cli) -> None:
    line = runyard.fails("app", "get", "no-such-app")
    assert "application 'no-such-app' does not exist" in line
    assert "HTTP 404" in line and "request id" in line
    assert "does not exist" in runyard.fails("run", "list", "no-such-app")


def test_wrong_key_is_not_valid(runyard: Cli) -> None:
    line = runyard.fails("app", "list", "--api-key", "ry_wrong")
    assert "not valid" in line and "HTTP 401" in line


def test_server_down_could_not_connect(offline: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = offline.fails("app", "list", "--endpoint", url, "--api-key", "k")
    assert "could not connect" in line and url in line


def test_missing_configuration(offline: Cli) -> None:
    assert "no endpoint configured" in offline.fails("app", "list")
    assert "no API key configured" in offline.fails("app", "list", "--endpoint", "http://127.0.0.1:9")
    assert "profile 'prod'" in offline.fails("app", "list", "--profile", "prod")


@pytest.mark.parametrize(("content", "message"), [
    ('{"stops": ', "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
])
def test_malformed_input_file(offline: Cli, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    line = offline.fails("run", "submit", "app", "--input", str(path), env=NOWHERE)
    assert message in line and "input.json" in line
    assert "no such file" in offline.fails("run", "submit", "app", "--input", str(tmp_path / "nope.json"), env=NOWHERE)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "submit", "app", "-i", "-", "--option", "sleep"], "must look like name=value"),
    (["acceptance", "create", "app", "--id", "t", "--candidate", "a", "--baseline", "b", "--metric", "x:mean"],
     "FIELD:STATISTIC:OPERATOR"),
    (["acceptance", "create", "app", "--id", "t", "--candidate", "a", "--baseline", "b", "--metric", "x:median:le"],
     "unknown statistic"),
    (["scenario", "create", "app", "--input-set", "s", "--instance", "i", "--option", "sleep"], "name=value1,value2"),
    (["input-set", "create", "app"], "--run"),
])
def test_bad_flag_values(offline: Cli, args: list[str], message: str) -> None:
    assert message in offline.fails(*args, env=NOWHERE, input="{}")


def test_configure_writes_a_profile_that_commands_use(offline: Cli, live_server: LiveServer, home: Path) -> None:
    saved = offline.json("configure", "--endpoint", live_server.url, "--api-key", live_server.key)
    path = home / ".runyard" / "config.toml"
    assert saved == {"profile": "default", "path": str(path), "endpoint": live_server.url}
    assert path.stat().st_mode & 0o777 == 0o600
    app_id = unique("app")
    offline.ok("app", "create", app_id)
    assert app_id in [a["id"] for a in offline.json("app", "list")]

    offline.ok("configure", "--endpoint", "http://127.0.0.1:9", "--api-key", "k", "--profile", "dead")
    assert "could not connect" in offline.fails("app", "list", "--profile", "dead")
    assert "could not connect" in offline.fails("app", "list", env={"RUNYARD_PROFILE": "dead"})
    # flags and environment win over the profile, each setting on its own
    assert app_id in [a["id"] for a in offline.json("app", "list", "--profile", "dead", "--endpoint", live_server.url,
                                                    "--api-key", live_server.key)]
    assert "not valid" in offline.fails("app", "list", env={"NEXTMV_API_KEY": "ry_wrong"})


def test_precedence_flags_then_environment_then_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RUNYARD_ENDPOINT", "RUNYARD_API_KEY", "NEXTMV_ENDPOINT", "NEXTMV_API_KEY", "RUNYARD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".runyard").mkdir()
    (tmp_path / ".runyard" / "config.yaml").write_text(
        "default: {endpoint: 'http://profile', api_key: pk}\nother: {endpoint: 'http://other', api_key: ok}\n")
    assert config.resolve(endpoint=None, api_key=None, profile=None) == config.Connection("http://profile", "pk")
    assert config.resolve(endpoint=None, api_key=None, profile="other") == config.Connection("http://other", "ok")
    monkeypatch.setenv("NEXTMV_ENDPOINT", "http://nextmv-env")
    monkeypatch.setenv("NEXTMV_API_KEY", "nk")
    assert config.resolve(endpoint=None, api_key=None, profile=None) == config.Connection("http://nextmv-env", "nk")
    monkeypatch.setenv("RUNYARD_ENDPOINT", "http://runyard-env/")
    assert config.resolve(endpoint=None, api_key=None, profile=None) == config.Connection("http://runyard-env", "nk")
    assert config.resolve(endpoint="http://flag", api_key="fk", profile="other") == config.Connection("http://flag", "fk")
    # writing keeps the file's format and the other profiles
    config.save_profile("third", {"endpoint": "http://third", "api_key": "tk"})
    assert set(config.read_profiles()) == {"default", "other", "third"}


def test_every_option_and_argument_has_help() -> None:
    def walk(command: click.Command, path: str) -> list[str]:
        missing = [f"{path} {p.name}" for p in command.params
                   if not getattr(p, "help", None) and p.name not in ("help", "install_completion", "show_completion")]
        for name, sub in getattr(command, "commands", {}).items():
            missing += walk(sub, f"{path} {name}")
        return missing

    assert walk(typer.main.get_command(cli_app), "runyard") == []

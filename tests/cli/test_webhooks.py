"""``runyard webhooks …``, ``runyard run watch`` and ``runyard webhooks listen --forward-to`` against a
real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from runyard.testing.postgres import free_port
from runyard.testing.receiver import Receiver, receiving

from .conftest import Cli, Deployed, wait_for


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_WEBHOOKS__ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("RUNYARD_WEBHOOKS__BACKOFF_BASE_SECONDS", "0.2")


@pytest.fixture
def receiver() -> Receiver:
    with receiving() as r:
        yield r


def test_webhooks_commands(runyard: Cli, receiver: Receiver) -> None:
    created = runyard.json("webhooks", "create", receiver.url, "--id", "ops", "--description", "ops channel",
                           "--filter", "statuses=succeeded,failed", "--header", "X-Team=routing")
    assert created["id"] == "ops" and created["secret"].startswith("whsec_")
    assert created["filters"] == {"statuses": ["succeeded", "failed"]} and created["headers"] == {"X-Team": "routing"}
    assert "ops channel" in runyard.ok("webhooks", "list").stdout
    assert runyard.json("webhooks", "get", "ops", "--secret")["secret"] == created["secret"]
    runyard.ok("webhooks", "test", "ops")
    got = receiver.wait_for(1)[0]
    assert got.headers["x-team"] == "routing" and json.loads(got.body)["test"] is True
    log = wait_for(lambda: [d for d in runyard.json("webhooks", "deliveries", "ops") if d["state"] == "succeeded"],
                   "the test delivery in the log")
    assert "succeeded" in runyard.ok("webhooks", "deliveries", "ops").stdout
    runyard.ok("webhooks", "redeliver", "ops", log[0]["id"])
    receiver.wait_for(2)
    assert runyard.json("webhooks", "update", "ops", "--disable")["status"] == "disabled"
    assert "error:" in runyard.fails("webhooks", "get", "nope")
    assert "error:" in runyard.fails("webhooks", "create", "http://169.254.169.254/", "--id", "meta")
    runyard.ok("webhooks", "delete", "ops")
    assert runyard.json("webhooks", "list") == []


def test_run_watch_shows_status_then_log(runyard: Cli, deployed: Deployed, input_file: Path) -> None:
    run_id = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file), "--option", "sleep=1").stdout.strip()
    out = runyard.ok("run", "watch", deployed.app_id, run_id).stdout.splitlines()
    assert [line for line in out if line.startswith("echo:")] == ["echo: line 0", "echo: line 1", "echo: line 2"]
    assert out.index("running") < out.index("echo: line 0") < out.index("succeeded")
    events = [json.loads(line) for line in runyard.ok("run", "watch", deployed.app_id, run_id, "-o", "json").stdout.splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["data"]["status_v2"] == "succeeded"
    failed = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file), "--option", "fail=true").stdout.strip()
    assert runyard("run", "watch", deployed.app_id, failed).exit_code == 1


def test_listen_verifies_prints_and_forwards(runyard: Cli, live_server, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    hook = runyard.json("webhooks", "create", f"http://127.0.0.1:{port}/", "--id", "dev")
    argv = [str(Path(sys.executable).parent / "runyard"), "webhooks", "listen", "--port", str(port),
            "--secret", hook["secret"], "--forward-to", receiver.url]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_"))}
    listener = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: _listening(port), "the listener to start")
        runyard.ok("webhooks", "test", "dev")
        forwarded = receiver.wait_for(1)[0]
        assert forwarded.headers["nextmv-signature"] and json.loads(forwarded.body)["test"] is True
        forged = requests.post(f"http://127.0.0.1:{port}/", data=b'{"event_type":"run.status"}',
                               headers={"Nextmv-Signature": "t=1,v1=00"}, timeout=5)
        assert forged.status_code == 401 and len(receiver.received) == 1
    finally:
        listener.terminate()
        out, err = listener.communicate(timeout=10)
    assert "run.status  run-test  succeeded" in out
    assert "does not verify" in err


def _listening(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except requests.ConnectionError:
        return False

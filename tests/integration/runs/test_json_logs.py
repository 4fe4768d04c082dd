"""``RUNYARD_LOG_FORMAT=json``: every log line ``runyard serve`` writes is a JSON object, and those
written while a request is served carry its request id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from integration.conftest import ADMIN_KEY
from runyard.testing.postgres import free_port

from .conftest import wait_for


def test_json_logs_carry_the_request_id_on_every_line(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_"))}
    env.update(RUNYARD_API_KEY=ADMIN_KEY, RUNYARD_DATABASE_URL=database_url, RUNYARD_LOG_FORMAT="json",
               RUNYARD_EXECUTOR="stub")
    argv = [str(Path(sys.executable).parent / "runyard"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(tmp_path / "data"), "--log-level", "debug"]
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        server = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    try:
        def healthy() -> bool:
            assert server.poll() is None, (tmp_path / "stderr").read_text()
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=60, what="runyard serve", interval=0.1)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        requests.post(f"{url}/v1/applications", json={"id": "logged", "name": "l"},
                      headers={**headers, "X-Request-Id": "rid-create-app"}, timeout=10)
        requests.get(f"{url}/v1/applications/missing", headers={**headers, "X-Request-Id": "rid-missing"}, timeout=10)
        lines = wait_for(lambda: (text := (tmp_path / "stderr").read_text()) and "rid-missing" in text and text.splitlines(),
                         timeout=30, what="the request's log line")
    finally:
        server.terminate()
        server.wait(20)
    records = [json.loads(line) for line in lines if line.strip()]  # every line parses
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    create = [r for r in records if r.get("request_id") == "rid-create-app"]
    assert create and "POST /v1/applications 200" in create[0]["message"]
    missing = [r for r in records if r.get("request_id") == "rid-missing"]
    assert missing and "404" in missing[0]["message"]
    assert ADMIN_KEY not in "\n".join(lines)

"""Schemathesis over every operation of ``/openapi.json`` against a real server on loopback, with real ids
seeded (an application with a version, an instance, runs, managed inputs, an input set, an experiment)
and its stateful links: no request may answer a server error. The report goes to the test's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from runyard.settings import Settings
from runyard.testing.servers import serve_in_thread

KEY = "schemathesis-admin-key"
MAX_EXAMPLES = int(os.environ.get("RUNYARD_FUZZ_EXAMPLES", "25"))  # per operation and phase: bounded for CI
APP = {"app.yaml": "type: python\nfiles: [main.py]\n", "main.py": "print('{}')\n"}


def _bundle() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in APP.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def seed(url: str, app_id: str) -> dict[str, str]:
    """Real resources for the generated requests to find; their ids, by path parameter name."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {KEY}"

    def call(method: str, path: str, **kw: object) -> dict:
        response = s.request(method, url + path, timeout=30, **kw)  # type: ignore[arg-type]
        assert response.status_code in (200, 201, 204), (method, path, response.text)
        return response.json() if response.content else {}

    app = f"/v1/applications/{app_id}"
    call("POST", "/v1/applications", json={"id": app_id, "name": app_id})
    requests.put(call("GET", f"{app}/binary")["upload_url"], data=_bundle(), timeout=30).raise_for_status()
    call("PUT", f"{app}/binary", json={"requirements": {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}})
    call("POST", f"{app}/versions", json={"id": "v1", "name": "v1"})
    call("POST", f"{app}/instances", json={"id": "i1", "name": "i1", "version_id": "v1"})
    run_id = call("POST", f"{app}/runs", json={"input": {"x": 1}})["run_id"]
    slot = call("POST", f"{app}/runs/uploadurl")
    requests.put(slot["upload_url"], data=b'{"x": 2}', timeout=30).raise_for_status()
    call("POST", f"{app}/inputs", json={"id": "in1", "name": "in1", "upload_id": slot["upload_id"]})
    call("POST", f"{app}/experiments/inputsets", json={"id": "set1", "name": "set1", "inputs": [{"id": "in1"}]})
    call("POST", f"{app}/experiments/batch", json={"id": "exp1", "name": "exp1", "input_set_id": "set1", "instance_ids": ["i1"]})
    call("POST", f"{app}/secrets", json={"id": "sc1", "name": "sc1",
                                         "secrets": [{"type": "env", "location": "FUZZ_SECRET", "value": "v"}]})
    key = call("POST", "/v1/admin/accounts/default/keys", json={"role": "viewer", "name": "fuzz"})
    return {"app_id": app_id, "collection_id": "sc1", "version_id": "v1", "instance_id": "i1", "run_id": run_id, "input_id": "in1",
            "set_id": "set1", "exp_id": "exp1", "test_id": "exp1", "account_id": "default", "key_id": key["id"]}


def _toml(table: str, values: dict[str, str]) -> str:
    return f"[{table}]\n" + "".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items())


@pytest.mark.slow
def test_no_operation_answers_a_server_error(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=KEY, executor="stub")
    with serve_in_thread(settings, name="schemathesis-target") as url:
        ids = seed(url, "fuzzed")
        # Deletions get an application of their own: deleting the one every other operation reads would
        # leave them nothing but 404s.
        doomed = seed(url, "doomed")
        config = tmp_path / "schemathesis.toml"
        config.write_text(_toml("parameters", ids) + '\n[[operations]]\ninclude-method = "DELETE"\n' + _toml("operations.parameters", doomed))
        operations = len([m for p in requests.get(f"{url}/openapi.json", timeout=30).json()["paths"].values() for m in p])
        argv = [str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run", f"{url}/openapi.json",
                "-H", f"Authorization: Bearer {KEY}", "--checks", "not_a_server_error", "--max-examples", str(MAX_EXAMPLES),
                "--phases", "examples,coverage,fuzzing,stateful", "--workers", "2", "--seed", "20261204",
                "--request-timeout", "30", "--suppress-health-check", "all", "--generation-database", "none",
                "--no-color", "--continue-on-failure",
                # Event streams (SSE) stay open as long as the client listens: no request timeout ends them.
                "--exclude-path-regex", "/events$"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    report = proc.stdout + proc.stderr
    with capsys.disabled():  # the report belongs in the CI log, passed or not
        print(f"\n--- schemathesis over {operations} operations, {database_url.split(':')[0]} ---\n{report[-12000:]}", flush=True)
    assert operations >= 70
    assert proc.returncode == 0, "schemathesis found server errors (report above)"

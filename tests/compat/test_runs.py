"""Runs through both official SDK generations: submit, poll, result, input, logs, failures, requirements."""

from __future__ import annotations

import json

import pytest

from .harness import unique

pytestmark = pytest.mark.compat

INPUT = {"name": "compat", "values": [1, 2.5, "three"], "nested": {"ok": True, "none": None}}
ECHOED = {"solution": INPUT, "statistics": {"result": {"value": 1}}}


def test_run_lifecycle(sdk, app_dir):
    app_id = unique("app")
    out = sdk.run(
        """
        app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        data = json.loads(os.environ["INPUT"])

        run_id = app.new_run(input=data, instance_id=instance_id, name="first", description="polled")
        statuses = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            info = app.run_metadata(run_id)
            if not statuses or statuses[-1] != info.metadata.status_v2.value:
                statuses.append(info.metadata.status_v2.value)
            if statuses[-1] in TERMINAL:
                break
            time.sleep(0.05)

        result = app.run_result(run_id)
        with_result = app.new_run_with_result(input=data, instance_id=instance_id)
        emit({
            "version_id": version_id, "instance_id": instance_id, "run_id": run_id,
            "statuses": statuses, "info": info.to_dict(),
            "result": {"id": result.id, "output": result.output, "status": result.metadata.status_v2.value},
            "input": app.run_input(run_id),
            "logs": app.run_logs(run_id).log,
            "with_result": {
                "id": with_result.id, "output": with_result.output,
                "status": with_result.metadata.status_v2.value,
            },
        })
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("echo-json")), "INPUT": json.dumps(INPUT)},
    )

    assert out["statuses"][-1] == "succeeded", out["statuses"]
    assert set(out["statuses"]) <= {"queued", "running", "succeeded"}, out["statuses"]
    info = out["info"]
    assert (info["id"], info["name"], info["description"]) == (out["run_id"], "first", "polled")
    meta = info["metadata"]
    assert meta["application_id"] == app_id
    assert meta["application_instance_id"] == out["instance_id"]
    assert meta["application_version_id"] == out["version_id"]
    assert meta["error"] == ""
    assert meta["input_size"] > 0 and meta["output_size"] > 0
    if sdk.version == "0.28.5":
        assert meta["status"] == "succeeded"
    else:
        assert meta["format"]["input"]["type"] == "json" and meta["format"]["output"]["type"] == "json"

    assert out["result"] == {"id": out["run_id"], "output": ECHOED, "status": "succeeded"}
    assert out["input"] == INPUT
    assert "echo-json: read 3 keys" in out["logs"]
    assert "echo-json: wrote the solution" in out["logs"]
    assert out["with_result"]["output"] == ECHOED
    assert out["with_result"]["status"] == "succeeded"
    assert out["with_result"]["id"] != out["run_id"]


def test_run_without_an_instance_id(sdk, app_dir):
    """``Application(client, id)`` with no instance: 0.28.5 sends ``instance_id=devint``, 1.13.0 sends none."""
    app_id = unique("app")
    out = sdk.run(
        """
        deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        app = Application(client=client, id=os.environ["APP_ID"])
        result = app.new_run_with_result(input={"x": 1})
        emit({"status": result.metadata.status_v2.value, "output": result.output})
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("echo-json"))},
    )
    assert out == {
        "status": "succeeded",
        "output": {"solution": {"x": 1}, "statistics": {"result": {"value": 1}}},
    }


def test_failing_app_ends_failed_with_its_stderr(sdk, app_dir):
    app_id = unique("app")
    out = sdk.run(
        """
        app, _, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        run_id = app.new_run(input={"x": 1}, instance_id=instance_id)
        info = wait_terminal(app, run_id)
        emit({"metadata": info.metadata.to_dict(), "logs": app.run_logs(run_id).log})
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("fail"))},
    )
    assert out["metadata"]["status_v2"] == "failed"
    if sdk.version == "0.28.5":
        assert out["metadata"]["status"] == "failed"
    assert "boom" in out["logs"]


def test_app_with_requirements_gets_them(sdk, app_dir):
    app_id = unique("app")
    out = sdk.run(
        """
        app, _, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        result = app.new_run_with_result(input={"x": 1}, instance_id=instance_id)
        emit({"status": result.metadata.status_v2.value, "output": result.output,
              "logs": app.run_logs(result.id).log})
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("with-req"))},
    )
    assert out["status"] == "succeeded", out["logs"]
    assert out["output"]["solution"] == {"six": "1.16.0", "input": {"x": 1}}

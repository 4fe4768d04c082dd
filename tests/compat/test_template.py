"""The official ``python_json_hello-world`` template, pushed and run through nextmv 1.13.0."""

from __future__ import annotations

import json
import subprocess

import pytest

from .harness import template_venv, unique

pytestmark = [pytest.mark.compat, pytest.mark.slow]


def run_directly(template_dir) -> dict:
    """The template's output when run by hand: ``python main.py < input.json`` with its own deps."""
    venv = template_venv(template_dir)
    with open(template_dir / "input.json", "rb") as stdin:
        proc = subprocess.run(
            [str(venv.python), "main.py"], stdin=stdin, cwd=template_dir, capture_output=True, timeout=300
        )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


@pytest.mark.timeout(1800)  # cold caches: the push bundles plotly, the server builds an env with it
def test_hello_world_template_matches_a_direct_run(sdk113, hello_world_template):
    reference = run_directly(hello_world_template)
    app_id = unique("hello")
    out = sdk113.run(
        """
        app_dir = os.environ["APP_DIR"]
        app, _, instance_id = deploy(os.environ["APP_ID"], app_dir)
        with open(os.path.join(app_dir, "input.json")) as f:
            data = json.load(f)
        result = app.new_run_with_result(input=data, instance_id=instance_id)
        emit({"status": result.metadata.status_v2.value, "output": result.output,
              "logs": app.run_logs(result.id).log})
        """,
        env={"APP_ID": app_id, "APP_DIR": str(hello_world_template)},
        timeout=1500,
    )
    assert out["status"] == "succeeded", out["logs"]
    output = out["output"]
    assert output["solution"] == reference["solution"] == {"message": "Hello, Patches"}
    assert output["metrics"] == reference["metrics"]
    assert isinstance(output["assets"], list) and len(output["assets"]) == len(reference["assets"]) == 1
    assert "Hello, Patches" in out["logs"]

"""P6: the nextmv 1.13.0 local runner against Runyard, on the SDK's own python_json_hello-world template.

The template (``nextmv/templates/python_json_hello-world`` of the 1.13.0 SDK: nextmv + plotly, writes a
solution, metrics and a plotly asset) is copied out of the SDK's virtualenv (built by
``tests/compat/harness.py`` under ``.cache/compat/``).

Baseline: ``nextmv.local.Application(src=…)``: ``new_run`` then ``run_result_with_polling`` (what
``new_run_with_result`` does), run by the 1.13.0 venv's interpreter: each run starts the SDK's executor
process, which runs ``python -m uv run --with nextmv>=1.7.0 --with plotly>=6.5.2 main.py`` (uv's cached
environment), then the SDK collects the results. Measured with the SDK's default ``PollingOptions`` (what
``nextmv local run create --wait`` uses) and, in full mode, with a 50 ms poll (the runner's own cost, the
conservative figure; at that rate a poll sometimes reads the run-info file while the executor rewrites it
in place, so a read that is not valid JSON is simply retried). One warm-up run first.

Runyard: the template pushed once with Runyard's SDK (``pip-requirements: pyproject.toml``; the server
builds the environment once), a warm-up run, then N runs with Runyard's ``new_run_with_result``. In full
mode also the official 1.13.0 cloud SDK's ``new_run_with_result`` against Runyard (default polling).

Ratio = local seconds per run / Runyard seconds per run (p50).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Server, SetupError, check_result, clean_env, deploy, summary_ms

GOAL_RATIO = 5.0
TEMPLATE = "python_json_hello-world"

LOCAL_SCRIPT = '''\
import json, sys, time
from nextmv import PollingOptions
from nextmv.local import Application

src, n, mode, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
app = Application(src=src)
data = json.load(open(src + "/input.json"))
if mode == "default":
    polling = PollingOptions()
else:  # poll every 50 ms: what is left is the local runner's own cost
    polling = PollingOptions(initial_delay=0.0, delay=0.05, backoff=0.0, jitter=0.0, max_delay=0.05)


def one():
    started = time.perf_counter()
    run_id = app.new_run(input=data)
    while True:
        try:
            result = app.run_result_with_polling(run_id, polling_options=polling, output_dir_path=out)
            break
        except json.JSONDecodeError:  # the executor rewrites the run's info file in place; read it again
            continue
    took = time.perf_counter() - started
    status = result.metadata.status_v2.value
    if status != "succeeded" or result.output["solution"]["message"] != "Hello, " + data["name"]:
        raise SystemExit(f"local run {result.id} ended {status}: {str(result.output)[:300]}")
    return took


one()
print(json.dumps({"seconds": [one() for _ in range(n)]}))
'''

CLOUD_SCRIPT = '''\
import json, sys, time
from nextmv.cloud import Application, Client

url, key, app_id, instance, src, n = sys.argv[1:7]
app = Application(client=Client(api_key=key, url=url), id=app_id)
data = json.load(open(src + "/input.json"))


def one():
    started = time.perf_counter()
    result = app.new_run_with_result(input=data, instance_id=instance)
    took = time.perf_counter() - started
    if result.metadata.status_v2.value != "succeeded":
        raise SystemExit(f"run {result.id} ended {result.metadata.status_v2.value}")
    return took


one()
print(json.dumps({"seconds": [one() for _ in range(int(n))]}))
'''


def sdk_venv() -> Any:
    """The nextmv 1.13.0 virtualenv of the compat suite (built with uv on first use)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from tests.compat.harness import sdk_venv as build
    except ImportError as exc:
        raise SetupError(f"cannot import tests/compat/harness.py (run the README's setup command): {exc}") from None
    try:
        return build("1.13.0")
    except (RuntimeError, OSError) as exc:
        raise SetupError(f"could not build the nextmv 1.13.0 venv: {exc}") from None


def run_script(venv: Any, script: Path, args: list[str], cwd: Path, timeout: float = 900) -> list[float]:
    env = clean_env(PATH=f"{venv.bin}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(venv.path))
    proc = subprocess.run([str(venv.python), str(script), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise SetupError(f"{script.name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])["seconds"]


def run(work: Path, quick: bool) -> dict[str, Any]:
    n = 3 if quick else 10
    venv = sdk_venv()
    template = venv.site_packages() / "nextmv" / "templates" / TEMPLATE
    if not (template / "app.yaml").is_file():
        raise SetupError(f"the 1.13.0 SDK has no {TEMPLATE} template at {template}")
    local_src = work / "local" / TEMPLATE
    pushed_src = work / "pushed" / TEMPLATE
    for dest in (local_src, pushed_src):
        shutil.copytree(template, dest)
    (work / "local-out").mkdir()
    data = json.loads((template / "input.json").read_text())

    local_script = work / "local_runs.py"
    local_script.write_text(LOCAL_SCRIPT)
    local = {"default_polling": summary_ms(run_script(venv, local_script, [str(local_src), str(n), "default",
                                                                           str(work / "local-out")], work))}
    if not quick:
        local["fast_polling"] = summary_ms(run_script(venv, local_script, [str(local_src), str(n), "fast",
                                                                           str(work / "local-out")], work))

    with Server(work / "server") as server:
        app, instance = deploy(server, pushed_src, "p6-hello")
        expected = {"message": f"Hello, {data['name']}"}
        started = time.perf_counter()
        check_result(app.new_run_with_result(input=data, instance_id=instance), expected)
        first_run = time.perf_counter() - started  # builds the environment unless .cache/bench/envs has it
        times = []
        for _ in range(n):
            started = time.perf_counter()
            result = app.new_run_with_result(input=data, instance_id=instance)
            times.append(time.perf_counter() - started)
            check_result(result, expected)
        runyard = summary_ms(times)
        cloud_sdk = None
        if not quick:
            cloud_script = work / "cloud_runs.py"
            cloud_script.write_text(CLOUD_SCRIPT)
            cloud_sdk = summary_ms(run_script(venv, cloud_script, [server.url, server.key, app.id, instance,
                                                                   str(pushed_src), str(n)], work))
    ratio = round(local["default_polling"]["p50_ms"] / runyard["p50_ms"], 2)
    ratio_fast = round(local["fast_polling"]["p50_ms"] / runyard["p50_ms"], 2) if "fast_polling" in local else None
    return {
        "id": "P6",
        "runs": n,
        "template": TEMPLATE,
        "local": local,
        "runyard": runyard,
        "runyard_first_run_seconds": round(first_run, 2),
        "runyard_with_official_1_13_0_cloud_sdk": cloud_sdk,
        "baseline_is": "nextmv 1.13.0 nextmv.local.Application.new_run_with_result (default PollingOptions)",
        "ratio": ratio,
        "ratio_vs_fast_polling_local": ratio_fast,
        "goal": {"ratio_at_least": GOAL_RATIO, "met": ratio >= GOAL_RATIO},
    }

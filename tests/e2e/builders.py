"""Test data for the console's experiment and operator pages, made with the official nextmv 1.13.0 SDK.

The app reads ``{"x": number}`` and options ``scale`` (default 1) and ``offset`` (default 0); its statistic
``result.value`` is ``x * scale + offset`` and ``result.custom.x`` is ``x``, so what the pages must show
is known in advance. A ``{"sleep": seconds}`` input keeps a run busy (the queue page's test).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from compat.harness import SdkRunner, unique

STATS_MAIN = '''\
"""result.value = x * scale + offset; result.custom.x = x. {"sleep": s} sleeps first."""

import json
import sys
import time


def options(argv):
    out, i = {}, 1
    while i + 1 < len(argv):
        out[argv[i].lstrip("-")] = argv[i + 1]
        i += 2
    return out


def main():
    opts = options(sys.argv)
    data = json.load(sys.stdin)
    if data.get("sleep"):
        time.sleep(float(data["sleep"]))
    x = float(data.get("x", 0))
    value = x * float(opts.get("scale", 1)) + float(opts.get("offset", 0))
    print(f"x={x} value={value}", file=sys.stderr, flush=True)
    json.dump({"solution": {"x": x}, "statistics": {"schema": "v1", "result": {"value": value, "custom": {"x": x}}}}, sys.stdout)


if __name__ == "__main__":
    main()
'''

STATS_MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
"""

HELPERS = '''
from nextmv.cloud import BatchExperimentRun, InstanceConfiguration, Metric
from nextmv.cloud import Scenario, ScenarioConfiguration, ScenarioInput
from nextmv.cloud.scenario import ScenarioInputType
from nextmv.polling import PollingOptions

FAST = PollingOptions(initial_delay=0.1, delay=0.2, backoff=0, jitter=0, max_duration=600)
APP_ID, APP_DIR = os.environ["APP_ID"], os.environ["APP_DIR"]


def upload(app, data):
    url = app.upload_url()
    app.upload_data(upload_url=url, data=data)
    return url.upload_id


def two_instances():
    """The app pushed twice: v1 behind the baseline instance, v2 (scale 2) behind the candidate."""
    app = Application.new(client=client, name=APP_ID, id=APP_ID)
    app.push(app_dir=APP_DIR)
    v1 = app.new_version(id=APP_ID + "-v1", name="v1")
    app.push(app_dir=APP_DIR)
    v2 = app.new_version(id=APP_ID + "-v2", name="v2")
    base = app.new_instance(version_id=v1.id, id=APP_ID + "-base", name="baseline").id
    cand = app.new_instance(version_id=v2.id, id=APP_ID + "-cand", name="candidate",
                            configuration=InstanceConfiguration(options={"scale": "2"})).id
    return app, v1.id, v2.id, base, cand
'''

# result.value: the candidate doubles it, so "lower is better" fails and "higher is better" passes;
# result.custom.x is the input on both sides, so "equal" passes.
METRICS = [
    {"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
     "params": {"operator": "lt", "tolerance": {"type": "relative", "value": 0.05}}},
    {"field": "result.value", "metric_type": "direct-comparison", "statistic": "p90",
     "params": {"operator": "gt", "tolerance": {"type": "absolute", "value": 0}}},
    {"field": "result.custom.x", "metric_type": "direct-comparison", "statistic": "p50",
     "params": {"operator": "eq", "tolerance": {"type": "absolute", "value": 0}}},
]
XS = (1, 2, 3, 4, 5)


def write_app(root: Path) -> Path:
    app_dir = root / "stats-app"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "main.py").write_text(STATS_MAIN)
    (app_dir / "app.yaml").write_text(STATS_MANIFEST)
    return app_dir


def run(sdk: SdkRunner, script: str, app_dir: Path, app_id: str | None = None, **env: str) -> Any:
    app_id = app_id or unique("cx")
    return sdk.run(HELPERS + textwrap.dedent(script), env={"APP_ID": app_id, "APP_DIR": str(app_dir), **env}, timeout=900)


def experiments(sdk: SdkRunner, root: Path) -> dict[str, Any]:
    """Two versions and instances, five managed inputs in an input set, a batch experiment over it,
    an acceptance test (three metrics) and a scenario test (two scenarios, one swept over two scales)."""
    import json

    return run(sdk, """
        app, v1, v2, base, cand = two_instances()
        inputs = [app.new_managed_input(id=f"{APP_ID}-in{x}", name=f"input x={x}", description=f"x is {x}",
                                        upload_id=upload(app, {"x": x})) for x in json.loads(os.environ["XS"])]
        input_set = app.new_input_set(id=f"{APP_ID}-set", name="five inputs", description="x = 1..5", inputs=inputs)
        runs = [BatchExperimentRun(input_id=i.id, instance_id=inst, input_set_id=input_set.id) for inst in (base, cand) for i in inputs]
        batch = app.new_batch_experiment_with_result(name="baseline vs candidate", id=f"{APP_ID}-batch", runs=runs,
                                                     description="every input on both instances", polling_options=FAST)
        metrics = [Metric.from_dict(m) for m in json.loads(os.environ["METRICS"])]
        acc = app.new_acceptance_test_with_result(candidate_instance_id=cand, baseline_instance_id=base, id=f"{APP_ID}-acc",
                                                  name="candidate acceptance", metrics=metrics, input_set_id=input_set.id,
                                                  description="doubling must not pass as lower", polling_options=FAST)
        sweep = Scenario(scenario_input=ScenarioInput(scenario_input_type=ScenarioInputType.INPUT_SET, scenario_input_data=input_set.id),
                         instance_id=base, scenario_id="sweep", configuration=[ScenarioConfiguration(name="scale", values=["1", "3"])])
        shifted = Scenario(scenario_input=ScenarioInput(scenario_input_type=ScenarioInputType.INPUT, scenario_input_data=[inputs[0].id, inputs[1].id]),
                           instance_id=base, scenario_id="shifted", configuration=[ScenarioConfiguration(name="offset", values=["10"])])
        scn = app.new_scenario_test_with_result(scenarios=[sweep, shifted], id=f"{APP_ID}-scn", name="scales and offsets",
                                                repetitions=0, polling_options=FAST)
        emit({"app_id": APP_ID, "v1": v1, "v2": v2, "base": base, "cand": cand, "input_set": input_set.id,
              "inputs": [i.id for i in inputs], "batch": batch.id, "batch_status": str(batch.status),
              "acceptance": acc.id, "acceptance_status": str(acc.status), "scenario": scn.id})
    """, write_app(root), XS=json.dumps(XS), METRICS=json.dumps(METRICS))


def deployed_app(sdk: SdkRunner, root: Path) -> dict[str, Any]:
    """The app pushed with two versions and instances, nothing run."""
    return run(sdk, """
        app, v1, v2, base, cand = two_instances()
        emit({"app_id": APP_ID, "v1": v1, "v2": v2, "base": base, "cand": cand})
    """, write_app(root))

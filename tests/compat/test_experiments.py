"""Experiments through both official SDK generations: managed inputs, input sets, batch experiments,
scenario tests and acceptance tests, with every experiment run executed for real.

The app (written by the ``stats_app`` fixture) reads ``{"x": number}`` and options ``scale`` (default 1)
and ``offset`` (default 0); its statistic ``result.value`` (also the metric ``value``) is
``x * scale + offset``, so every summary the server computes is known in advance.
"""

from __future__ import annotations

import json
import statistics
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .harness import unique

pytestmark = pytest.mark.compat

STATS_MAIN = '''\
"""Statistics from input and options: result.value = x * scale + offset."""

import json
import sys


def options(argv):
    out, i = {}, 1
    while i + 1 < len(argv):
        out[argv[i].lstrip("-")] = argv[i + 1]
        i += 2
    return out


def main():
    opts = options(sys.argv)
    data = json.load(sys.stdin)
    if data.get("fail"):
        print("failing on purpose", file=sys.stderr, flush=True)
        sys.exit(2)
    value = data["x"] * float(opts.get("scale", 1)) + float(opts.get("offset", 0))
    json.dump({"solution": {"x": data["x"], "options": opts},
               "statistics": {"schema": "v1", "result": {"value": value}},
               "metrics": {"value": value}}, sys.stdout)


if __name__ == "__main__":
    main()
'''

STATS_MANIFEST = """\
# result.value = x * scale + offset (options -scale, -offset); no dependencies.
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
"""

# Prepended to every script of this file (after the harness prelude).
HELPERS = '''
from datetime import datetime, timedelta, timezone

import nextmv
from nextmv.cloud import BatchExperimentRun, InstanceConfiguration, ManagedInput, Metric
from nextmv.cloud import Scenario, ScenarioConfiguration, ScenarioInput
from nextmv.cloud.scenario import ScenarioInputType

try:
    from nextmv.polling import PollingOptions
except ImportError:
    from nextmv.cloud import PollingOptions

V1 = nextmv.__version__.lstrip("v").startswith("1.")
FAST = PollingOptions(initial_delay=0.1, delay=0.1, backoff=0, jitter=0, max_duration=300)
APP_ID, APP_DIR = os.environ["APP_ID"], os.environ["APP_DIR"]


def value(x):
    """An enum's value (1.13.0) or the plain string (0.28.5)."""
    return getattr(x, "value", x)


def upload(app, data):
    url = app.upload_url()
    if V1:
        app.upload_data(upload_url=url, data=data)
    else:
        app.upload_large_input(input=data, upload_url=url)
    return url.upload_id


def managed(app, name, data):
    return app.new_managed_input(id=f"{APP_ID}-{name}", name=name, upload_id=upload(app, data))


def new_instance(app, version_id, suffix, options):
    inst = app.new_instance(version_id=version_id, id=f"{APP_ID}-{suffix}", name=suffix,
                            configuration=InstanceConfiguration(options=options))
    return inst.id


def wait_experiment(app, exp_id, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        exp = app.batch_experiment(exp_id)
        if value(exp.status) in ("completed", "failed", "canceled"):
            return exp
        if time.monotonic() > deadline:
            raise TimeoutError(f"experiment {exp_id} still {exp.status}")
        time.sleep(0.1)


def wait_acceptance(app, test_id, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        test = app.acceptance_test(test_id)
        if value(test.status) in ("completed", "failed", "canceled"):
            return test
        if time.monotonic() > deadline:
            raise TimeoutError(f"acceptance test {test_id} still {test.status}")
        time.sleep(0.1)


def status_of(call):
    """The HTTP status an SDK call fails with (None if it succeeds)."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return http_status(exc), str(exc)
    return None, ""


def dump(model):
    return model.to_dict() if model is not None else None

'''


@pytest.fixture
def stats_app(tmp_path: Path) -> Path:
    root = tmp_path / "apps" / "stats-json"
    root.mkdir(parents=True)
    (root / "main.py").write_text(STATS_MAIN)
    (root / "app.yaml").write_text(STATS_MANIFEST)
    return root


def run(sdk: Any, script: str, app_dir: Path, **env: str) -> Any:
    app_id = unique("app")
    return sdk.run(HELPERS + textwrap.dedent(script), env={"APP_ID": app_id, "APP_DIR": str(app_dir), **env}) | {"app_id": app_id}


def summary(values: list[float]) -> dict[str, Any]:
    """What the server must report for ``values``: computed here with the standard library only."""
    shift = max(1.0, 1.0 - min(values))
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {
        "count": len(values), "min": min(values), "max": max(values), "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "shifted_geometric_mean": statistics.geometric_mean([v + shift for v in values]) - shift,
        "shift_parameter": shift,
        "percentiles": {f"p{p:02d}": cuts[p - 1] for p in (1, 5, 10, 25, 50, 75, 90, 95, 99)},
    }


def assert_summary(actual: dict[str, Any], values: list[float]) -> None:
    expected = summary(values)
    assert actual["count"] == expected["count"]
    for key in ("min", "max", "mean", "std", "shifted_geometric_mean", "shift_parameter"):
        assert actual[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12), key
    for key, want in expected["percentiles"].items():
        assert actual["percentiles"][key] == pytest.approx(want, rel=1e-12, abs=1e-12), key


def groups_by(summaries: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Grouped summaries keyed by the values of ``keys`` (in that order)."""
    out = {}
    for group in summaries:
        named = dict(zip(group["group_keys"], group["group_values"], strict=True))
        out[tuple(named[k] for k in keys)] = group
    return out


# ------------------------------------------------------------------------ managed inputs, input sets

def test_managed_inputs_and_input_sets(sdk, stats_app):
    out = run(sdk, """
        app, version_id, instance_id = deploy(APP_ID, APP_DIR)
        start = datetime.now(timezone.utc) - timedelta(seconds=5)
        run_ids = [wait_terminal(app, app.new_run(input={"x": x}, instance_id=instance_id)).id for x in (1, 2, 3)]
        end = datetime.now(timezone.utc) + timedelta(seconds=5)
        window = app.new_input_set(id=f"{APP_ID}-window", name="window", instance_id=instance_id,
                                   start_time=start, end_time=end, maximum_runs=2)

        from_upload = app.new_managed_input(id=f"{APP_ID}-up", name="from upload", description="d0",
                                            upload_id=upload(app, {"x": 10}))
        from_run = app.new_managed_input(id=f"{APP_ID}-run", name="from run", run_id=run_ids[0])
        spare = managed(app, "spare", {"x": 4})
        got = app.managed_input(from_upload.id)
        listed = app.list_managed_inputs()
        updated = app.update_managed_input(from_upload.id, name="renamed", description="d1")
        after_update = app.managed_input(from_upload.id)

        out = {"run_ids": run_ids, "from_upload": dump(from_upload), "from_run": dump(from_run), "got": dump(got),
               "listed": sorted(m.id for m in listed), "updated": dump(updated), "after_update": dump(after_update)}

        if V1:  # a managed input as a run's input, by id and as the object
            by_id = app.new_run(managed_input_id=from_upload.id, instance_id=instance_id)
            by_object = app.new_run(input=app.managed_input(from_run.id), instance_id=instance_id)
            out["run_by_id"] = app.run_result(wait_terminal(app, by_id).id).output
            out["run_by_object"] = app.run_result(wait_terminal(app, by_object).id).output

        from_runs = app.new_input_set(id=f"{APP_ID}-runs", name="runs", description="by run ids", run_ids=run_ids)
        from_inputs = app.new_input_set(id=f"{APP_ID}-inputs", name="inputs", inputs=[from_upload, from_run])
        by_ref = app.new_input_set(id=f"{APP_ID}-refs", name="refs", inputs=[ManagedInput.from_dict({"id": spare.id})])
        out.update({
            "window": dump(window), "from_runs": dump(from_runs), "from_inputs": dump(from_inputs),
            "by_ref": dump(by_ref), "get_set": dump(app.input_set(from_inputs.id)),
            "list_sets": sorted(s.id for s in app.list_input_sets()),
        })

        if V1:
            out["update_set"] = dump(app.update_input_set(from_inputs.id, name="inputs2", description="d2"))
            out["replace_set"] = dump(app.update_input_set(from_inputs.id, inputs=[spare]))
            out["delete_in_use"] = status_of(lambda: app.delete_managed_input(spare.id))
            app.delete_input_set(by_ref.id)
            out["deleted_set"] = status_of(lambda: app.input_set(by_ref.id))
            app.delete_managed_input(from_upload.id)
            out["deleted_input"] = status_of(lambda: app.managed_input(from_upload.id))
            out["list_unpaginated"] = sorted(m.id for m in app.list_managed_inputs(no_pagination=True))
            out["sets_unpaginated"] = sorted(s.id for s in app.list_input_sets(no_pagination=True))
        emit(out)
    """, stats_app)
    app_id, run_ids = out["app_id"], out["run_ids"]

    up, from_run = out["from_upload"], out["from_run"]
    assert (up["id"], up["name"], up["description"]) == (f"{app_id}-up", "from upload", "d0")
    assert up["upload_id"] and up["format"]["input"]["type"] == "json"
    assert from_run["run_id"] == run_ids[0] and from_run["format"]["input"]["type"] == "json"
    assert out["got"]["id"] == up["id"] and out["got"]["upload_id"] == up["upload_id"]
    assert out["listed"] == sorted([up["id"], from_run["id"], f"{app_id}-spare"])
    assert (out["after_update"]["name"], out["after_update"]["description"]) == ("renamed", "d1")
    if sdk.version == "1.13.0":
        assert out["updated"]["name"] == "renamed"
        assert out["run_by_id"]["statistics"]["result"]["value"] == 10
        assert out["run_by_object"]["statistics"]["result"]["value"] == 1
    else:
        assert out["updated"] is None  # 0.28.5's update_managed_input returns nothing

    # an instance + time window + maximum_runs picks the newest runs of that instance
    assert sorted(out["window"]["input_ids"]) == sorted(run_ids[1:])
    assert out["from_runs"]["input_ids"] == run_ids and out["from_runs"]["description"] == "by run ids"
    assert [i["id"] for i in out["from_runs"]["inputs"]] == run_ids
    assert out["from_inputs"]["input_ids"] == [up["id"], from_run["id"]]
    assert [i["id"] for i in out["from_inputs"]["inputs"]] == [up["id"], from_run["id"]]
    assert out["by_ref"]["input_ids"] == [f"{app_id}-spare"]
    assert out["get_set"]["app_id"] == app_id and out["get_set"]["input_ids"] == out["from_inputs"]["input_ids"]
    assert out["list_sets"] == sorted(f"{app_id}-{s}" for s in ("window", "runs", "inputs", "refs"))
    if sdk.version == "1.13.0":
        assert (out["update_set"]["name"], out["update_set"]["description"]) == ("inputs2", "d2")
        assert out["update_set"]["input_ids"] == out["from_inputs"]["input_ids"]
        assert out["replace_set"]["input_ids"] == [f"{app_id}-spare"] and out["replace_set"]["name"] == "inputs2"
        assert out["delete_in_use"][0] == 409 and "input set" in out["delete_in_use"][1]
        assert out["deleted_set"][0] == 404
        assert out["deleted_input"][0] == 404
        assert out["list_unpaginated"] == sorted([from_run["id"], f"{app_id}-spare"])
        assert out["sets_unpaginated"] == sorted(f"{app_id}-{s}" for s in ("window", "runs", "inputs"))


# ------------------------------------------------------------------------------- batch experiments

XS = [1.0, 2.0, 4.0, 8.0]
OPTION_SETS = {"double": {"scale": "2"}, "triple": {"scale": "3"}}


def test_batch_experiment(sdk, stats_app):
    out = run(sdk, """
        app, version_id, base = deploy(APP_ID, APP_DIR)
        shifted = new_instance(app, version_id, "shifted", {"offset": "100"})
        inputs = [managed(app, f"in{k}", {"x": x}) for k, x in enumerate(json.loads(os.environ["XS"]))]
        input_set = app.new_input_set(id=f"{APP_ID}-set", name="set", inputs=inputs)
        option_sets = json.loads(os.environ["OPTION_SETS"])
        exp_id = f"{APP_ID}-exp"
        if V1:
            runs = [BatchExperimentRun(input_id=i.id, instance_id=inst, option_set=o, input_set_id=input_set.id)
                    for inst in (base, shifted) for o in option_sets for i in inputs]
            exp = app.new_batch_experiment_with_result(name="exp", id=exp_id, description="d", option_sets=option_sets,
                                                       runs=runs, polling_options=FAST)
            meta = app.batch_experiment_metadata(exp_id)
        else:
            created = app.new_batch_experiment(name="exp", input_set_id=input_set.id, instance_ids=[base, shifted],
                                               description="d", id=exp_id, option_sets=option_sets)
            assert created == exp_id
            exp = wait_experiment(app, exp_id)
            meta = None
        listed = app.list_batch_experiments()
        scenario_listed = app.list_scenario_tests()
        out = {"base": base, "shifted": shifted, "version_id": version_id, "exp": exp.to_dict(),
               "meta": dump(meta), "listed": [e.to_dict() for e in listed],
               "scenario_listed": [e.id for e in scenario_listed],
               "set_delete": status_of(lambda: app.delete_input_set(input_set.id)) if V1 else None}
        out["updated"] = app.update_batch_experiment(exp_id, name="exp2", description="d2").to_dict()
        out["after_update"] = app.batch_experiment(exp_id).to_dict()
        app.delete_batch_experiment(exp_id)
        out["after_delete"] = status_of(lambda: app.batch_experiment(exp_id))
        out["listed_after_delete"] = [e.id for e in app.list_batch_experiments()]
        if V1:
            app.delete_input_set(input_set.id)
            out["set_after_delete"] = status_of(lambda: app.input_set(input_set.id))
        emit(out)
    """, stats_app, XS=json.dumps(XS), OPTION_SETS=json.dumps(OPTION_SETS))
    exp, exp_id = out["exp"], f"{out['app_id']}-exp"
    n = 2 * len(OPTION_SETS) * len(XS)
    assert (exp["id"], exp["name"], exp["description"], exp["type"]) == (exp_id, "exp", "d", "batch")
    assert exp["status"] == "completed"
    assert (exp["number_of_requested_runs"], exp["number_of_runs"], exp["number_of_completed_runs"]) == (n, n, n)
    assert exp["option_sets"] == OPTION_SETS
    assert exp["input_set_id"] == f"{out['app_id']}-set"
    assert sorted(exp["instance_ids"]) == sorted([out["base"], out["shifted"]])

    groups = groups_by(exp["grouped_distributional_summaries"], "instance_id", "option_set")
    assert len(groups) == 4
    for (instance, option_set), group in groups.items():
        offset = 100.0 if instance == out["shifted"] else 0.0
        scale = float(OPTION_SETS[option_set]["scale"])
        values = [x * scale + offset for x in XS]
        assert group["number_of_runs_total"] == len(XS)
        assert dict(zip(group["group_keys"], group["group_values"], strict=True))["version_id"] == out["version_id"]
        assert_summary(group["indicator_distributions"]["result.value"], values)
        assert_summary(group["indicator_distributions"]["value"], values)  # the metric

    if sdk.version == "1.13.0":
        runs = exp["runs"]
        assert len(runs) == n and {r["status_v2"] for r in runs} == {"succeeded"}
        assert out["meta"]["status"] == "completed" and out["meta"]["app_id"] == out["app_id"]
        assert out["set_delete"][0] == 409 and exp_id in out["set_delete"][1]
        assert out["set_after_delete"][0] == 404
    listed = {e["id"]: e for e in out["listed"]}
    assert listed[exp_id]["status"] == "completed" and listed[exp_id]["number_of_runs"] == n
    assert exp_id not in out["scenario_listed"]
    assert (out["updated"]["name"], out["updated"]["description"]) == ("exp2", "d2")
    assert (out["after_update"]["name"], out["after_update"]["description"]) == ("exp2", "d2")
    assert out["after_delete"][0] == 404
    assert exp_id not in out["listed_after_delete"]


# ---------------------------------------------------------------------------------- scenario tests

def test_scenario_test(sdk, stats_app):
    out = run(sdk, """
        app, version_id, instance_id = deploy(APP_ID, APP_DIR)
        source = managed(app, "five", {"x": 5})
        sweep = Scenario(
            scenario_input=ScenarioInput(scenario_input_type=ScenarioInputType.INPUT, scenario_input_data=[source.id]),
            instance_id=instance_id, scenario_id="sweep",
            configuration=[ScenarioConfiguration(name="scale", values=["2", "3"])],
        )
        fresh = Scenario(
            scenario_input=ScenarioInput(scenario_input_type=ScenarioInputType.NEW, scenario_input_data=[{"x": 7}]),
            instance_id=instance_id,
        )
        test_id = f"{APP_ID}-scn"
        if V1:
            test = app.new_scenario_test_with_result(scenarios=[sweep, fresh], id=test_id, name="scn", repetitions=1,
                                                     polling_options=FAST)
        else:
            created = app.new_scenario_test(id=test_id, name="scn", scenarios=[sweep, fresh], repetitions=1)
            assert created == test_id
            test = wait_experiment(app, test_id)
        out = {"test": test.to_dict(), "again": app.scenario_test(test_id).to_dict(),
               "listed": [e.id for e in app.list_scenario_tests()],
               "batch_listed": [e.id for e in app.list_batch_experiments()]}
        out["updated"] = app.update_scenario_test(test_id, name="scn2", description="d2").to_dict()
        app.delete_scenario_test(test_id)
        out["after_delete"] = status_of(lambda: app.scenario_test(test_id))
        emit(out)
    """, stats_app)
    test, test_id = out["test"], f"{out['app_id']}-scn"
    assert (test["id"], test["type"], test["status"]) == (test_id, "scenario", "completed")
    assert (test["number_of_requested_runs"], test["number_of_runs"], test["number_of_completed_runs"]) == (6, 6, 6)
    assert test["option_sets"] == {"sweep_0": {"scale": "2"}, "sweep_1": {"scale": "3"}, "scenario-2_0": {}}
    assert isinstance(test["input_set_id"], str) and isinstance(test["instance_ids"], list)
    groups = groups_by(test["grouped_distributional_summaries"], "scenario_id", "option_set")
    assert set(groups) == {("sweep", "sweep_0"), ("sweep", "sweep_1"), ("scenario-2", "scenario-2_0")}
    for key, values in {("sweep", "sweep_0"): [10.0, 10.0], ("sweep", "sweep_1"): [15.0, 15.0],
                        ("scenario-2", "scenario-2_0"): [7.0, 7.0]}.items():
        assert groups[key]["number_of_runs_total"] == 2
        assert_summary(groups[key]["indicator_distributions"]["result.value"], values)
    if sdk.version == "1.13.0":
        assert len(test["runs"]) == 6 and {r["status_v2"] for r in test["runs"]} == {"succeeded"}
    assert test_id in out["listed"] and test_id not in out["batch_listed"]
    assert out["again"]["grouped_distributional_summaries"] == test["grouped_distributional_summaries"]
    assert (out["updated"]["name"], out["updated"]["description"]) == ("scn2", "d2")
    assert out["after_delete"][0] == 404


# ------------------------------------------------------------------------------- acceptance tests

METRICS = [
    # candidate mean 4 > control mean 2: passes
    {"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
     "params": {"operator": "gt", "tolerance": {"type": "absolute", "value": 0}}},
    # candidate max 6 <= control max 3 + 100 % of 3: passes exactly at the boundary
    {"field": "result.value", "metric_type": "direct-comparison", "statistic": "max",
     "params": {"operator": "le", "tolerance": {"type": "relative", "value": 1}}},
    # candidate p50 4 < control p50 2 + 1: fails
    {"field": "value", "metric_type": "direct-comparison", "statistic": "p50",
     "params": {"operator": "lt", "tolerance": {"type": "absolute", "value": 1}}},
]


def test_acceptance_tests(sdk, stats_app):
    out = run(sdk, """
        app, version_id, control = deploy(APP_ID, APP_DIR)
        candidate = new_instance(app, version_id, "cand", {"scale": "2"})
        inputs = [managed(app, f"in{x}", {"x": x}) for x in (1, 2, 3)]
        input_set = app.new_input_set(id=f"{APP_ID}-set", name="set", inputs=inputs)
        metrics = [Metric.from_dict(m) for m in json.loads(os.environ["METRICS"])]

        # 1: with an input set, the SDK creates the batch experiment itself
        with_set = app.new_acceptance_test_with_result(
            candidate_instance_id=candidate, baseline_instance_id=control, id=f"{APP_ID}-acc1", name="acc1",
            metrics=metrics, input_set_id=input_set.id, description="with a set", polling_options=FAST)

        # 2: on an existing batch experiment with the same id
        exp_id = f"{APP_ID}-acc2"
        if V1:
            runs = [BatchExperimentRun(input_id=i.id, instance_id=inst, input_set_id=input_set.id)
                    for inst in (candidate, control) for i in inputs]
            app.new_batch_experiment(name="acc2", id=exp_id, runs=runs)
        else:
            app.new_batch_experiment(name="acc2", id=exp_id, input_set_id=input_set.id,
                                     instance_ids=[candidate, control])
        created = app.new_acceptance_test(candidate_instance_id=candidate, baseline_instance_id=control,
                                          id=exp_id, name="acc2", metrics=metrics[:2])
        on_existing = app.acceptance_test_with_polling(exp_id, polling_options=FAST) if V1 else wait_acceptance(app, exp_id)

        # 3: a metric given as a dict without a tolerance still comes back in a shape the SDK accepts
        loose = app.new_acceptance_test(
            candidate_instance_id=candidate, baseline_instance_id=control, id=f"{APP_ID}-acc3", name="acc3",
            metrics=[{"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
                      "params": {"operator": "gt"}}], input_set_id=input_set.id)
        loose = app.acceptance_test_with_polling(loose.id, polling_options=FAST) if V1 else wait_acceptance(app, loose.id)

        out = {"control": control, "candidate": candidate, "version_id": version_id, "loose": loose.to_dict(),
               "with_set": with_set.to_dict(), "created": created.to_dict(), "on_existing": on_existing.to_dict(),
               "experiment": app.batch_experiment(f"{APP_ID}-acc1").to_dict(),
               "listed": sorted(t.id for t in app.list_acceptance_tests())}
        if V1:
            out["updated"] = app.update_acceptance_test(exp_id, name="renamed", description="d2").to_dict()
            out["missing_experiment"] = status_of(lambda: app.new_acceptance_test(
                candidate_instance_id=candidate, baseline_instance_id=control, id=f"{APP_ID}-none", metrics=metrics))
        app.delete_acceptance_test(exp_id)
        out["after_delete"] = status_of(lambda: app.acceptance_test(exp_id))
        emit(out)
    """, stats_app, METRICS=json.dumps(METRICS))
    app_id = out["app_id"]
    control_values, candidate_values = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]

    test = out["with_set"]
    assert (test["id"], test["experiment_id"], test["name"], test["description"]) == (
        f"{app_id}-acc1", f"{app_id}-acc1", "acc1", "with a set")
    assert test["status"] == "completed"
    assert test["control"] == {"instance_id": out["control"], "version_id": out["version_id"]}
    assert test["candidate"] == {"instance_id": out["candidate"], "version_id": out["version_id"]}
    assert test["metrics"] == METRICS
    results = test["results"]
    assert results["passed"] is False and not results.get("error")
    assert [m["passed"] for m in results["metric_results"]] == [True, True, False]
    for metric_result in results["metric_results"]:
        for side, values in (("control", control_values), ("candidate", candidate_values)):
            stats = metric_result["statistics"][side]
            assert stats["number_of_runs_total"] == 3
            expected = summary(values)
            got = stats["distribution_summary_statistics"]
            assert got["count"] == 3 and got["mean"] == pytest.approx(expected["mean"])
            assert got["std"] == pytest.approx(expected["std"])
            assert got["shifted_geometric_mean"] == pytest.approx(expected["shifted_geometric_mean"])
            assert stats["distribution_percentiles"] == pytest.approx(expected["percentiles"])
    assert out["experiment"]["status"] == "completed" and out["experiment"]["number_of_runs"] == 6

    existing = out["on_existing"]
    assert existing["id"] == f"{app_id}-acc2" and existing["status"] == "completed"
    assert existing["results"]["passed"] is True
    assert [m["passed"] for m in existing["results"]["metric_results"]] == [True, True]
    assert out["created"]["status"] in ("started", "completed")
    assert out["listed"] == sorted([f"{app_id}-acc1", f"{app_id}-acc2", f"{app_id}-acc3"])
    assert out["loose"]["metrics"][0]["params"]["tolerance"] == {"type": "", "value": 0}
    assert out["loose"]["status"] == "completed" and out["loose"]["results"]["passed"] is True
    if sdk.version == "1.13.0":
        assert (out["updated"]["name"], out["updated"]["description"]) == ("renamed", "d2")
        # the SDK's ValueError, raised from the 404 of the experiment it looked for
        assert out["missing_experiment"][0] == 404 and "does not exist" in out["missing_experiment"][1]
    assert out["after_delete"][0] == 404


def test_failed_runs_are_counted(sdk, stats_app):
    """One input fails inside the experiment: it is counted, and the experiment still completes."""
    out = run(sdk, """
        app, version_id, instance_id = deploy(APP_ID, APP_DIR)
        inputs = [managed(app, "ok1", {"x": 1}), managed(app, "bad", {"x": 0, "fail": True}), managed(app, "ok2", {"x": 3})]
        input_set = app.new_input_set(id=f"{APP_ID}-set", name="set", inputs=inputs)
        exp_id = f"{APP_ID}-exp"
        if V1:
            runs = [BatchExperimentRun(input_id=i.id, instance_id=instance_id) for i in inputs]
            exp = app.new_batch_experiment_with_result(name="exp", id=exp_id, runs=runs, polling_options=FAST)
        else:
            app.new_batch_experiment(name="exp", id=exp_id, input_set_id=input_set.id, instance_ids=[instance_id])
            exp = wait_experiment(app, exp_id)
        raw = client.request(method="GET", endpoint=f"v1/applications/{APP_ID}/experiments/batch/{exp_id}").json()
        emit({"exp": exp.to_dict(), "raw": raw})
    """, stats_app)
    exp = out["exp"]
    assert exp["status"] == "completed"
    assert (exp["number_of_runs"], exp["number_of_completed_runs"]) == (3, 3)
    assert out["raw"]["number_of_failed_runs"] == 1 and out["raw"]["number_of_succeeded_runs"] == 2
    (group,) = exp["grouped_distributional_summaries"]
    assert (group["number_of_runs_total"], group["number_of_runs_succeeded"], group["number_of_runs_failed"]) == (3, 2, 1)
    assert_summary(group["indicator_distributions"]["result.value"], [1.0, 3.0])
    if sdk.version == "1.13.0":
        assert sorted(r["status_v2"] for r in exp["runs"]) == ["failed", "succeeded", "succeeded"]


"""Shadow tests, switchback tests and ensembles through the official 1.13.0 SDK: all 22 methods, and
``new_run`` with an ensemble ``run_type``, with every run executed for real.

The app reads ``{"x": number}`` and options ``scale`` (default 1) and ``offset`` (default 0); its
statistic ``result.value`` is ``x * scale + offset``, so every number here is known in advance.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .harness import unique
from .test_experiments import STATS_MAIN, STATS_MANIFEST, assert_summary, groups_by

pytestmark = pytest.mark.compat

HELPERS = '''
from datetime import datetime, timedelta, timezone

from nextmv.cloud import (EvaluationRule, InstanceConfiguration, RuleObjective, RuleTolerance, RuleToleranceType,
                          RunGroup, StartEvents, StopIntent, TerminationEvents, TestComparisonSingle)
from nextmv.polling import PollingOptions
from nextmv.run import RunConfiguration, RunType, RunTypeConfiguration

APP_ID, APP_DIR = os.environ["APP_ID"], os.environ["APP_DIR"]
FAST = PollingOptions(initial_delay=0.1, delay=0.1, backoff=0, jitter=0, max_duration=300)


def instance(app, version_id, suffix, **options):
    return app.new_instance(version_id=version_id, id=f"{APP_ID}-{suffix}", name=suffix,
                            configuration=InstanceConfiguration(options={k: str(v) for k, v in options.items()})).id


def status_of(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return http_status(exc)
    return None


def until(check, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)
'''


@pytest.fixture
def stats_app(tmp_path: Path) -> Path:
    root = tmp_path / "apps" / "stats-json"
    root.mkdir(parents=True)
    (root / "main.py").write_text(STATS_MAIN)
    (root / "app.yaml").write_text(STATS_MANIFEST)
    return root


def run(sdk: Any, script: str, app_dir: Path) -> Any:
    app_id = unique("app")
    return sdk.run(HELPERS + textwrap.dedent(script), env={"APP_ID": app_id, "APP_DIR": str(app_dir)}) | {"app_id": app_id}


def test_shadow_tests_through_the_sdk(sdk113: Any, stats_app: Path) -> None:
    out = run(sdk113, """
        app, version_id, base = deploy(APP_ID, APP_DIR)
        c1, c2 = instance(app, version_id, "double", scale=2), instance(app, version_id, "plus", offset=10)
        test = app.new_shadow_test(comparisons={base: [c1, c2]}, termination_events=TerminationEvents(maximum_runs=2),
                                   shadow_test_id=f"{APP_ID}-sh", name="sh", description="d")
        created = test.to_dict()
        app.start_shadow_test(test.shadow_test_id)
        started = app.shadow_test_metadata(test.shadow_test_id).status.value
        runs = [app.new_run(input={"x": x}, instance_id=base) for x in (1.0, 3.0, 5.0)]
        for run_id in runs:
            wait_terminal(app, run_id)
        done = until(lambda: (t := app.shadow_test(test.shadow_test_id)).status.value == "completed" and t)
        updated = app.update_shadow_test(test.shadow_test_id, name="renamed", description="new")
        listed = [t.shadow_test_id for t in app.list_shadow_tests()]
        legacy = [t.shadow_test_id for t in app.list_shadow_tests(no_pagination=True)]
        second = app.new_shadow_test(comparisons={base: [c1]}, termination_events=TerminationEvents(
            maximum_runs=5, time=datetime.now(timezone.utc) + timedelta(hours=1)),
            start_events=StartEvents(time=datetime.now(timezone.utc) + timedelta(minutes=30)))
        second_status = app.shadow_test(second.shadow_test_id).status.value
        app.stop_shadow_test(second.shadow_test_id, intent=StopIntent.CANCEL)
        canceled = app.shadow_test_metadata(second.shadow_test_id).status.value
        app.delete_shadow_test(second.shadow_test_id)
        emit({"base": base, "c1": c1, "c2": c2, "runs": runs, "created": created, "started": started,
              "done": done.to_dict(), "updated": [updated.name, updated.description], "listed": listed, "legacy": legacy,
              "second": second_status, "canceled": canceled, "gone": status_of(lambda: app.shadow_test(second.shadow_test_id))})
    """, stats_app)
    assert out["created"]["status"] == "draft" and out["started"] == "started"
    assert out["created"]["comparisons"] == [{"baseline_instance_id": out["base"], "candidate_instance_ids": [out["c1"], out["c2"]]}]
    done = out["done"]
    assert done["status"] == "completed" and done["termination_events"]["maximum_runs"] == 2
    candidates = [r for r in done["runs"] if r["application_instance_id"] in (out["c1"], out["c2"])]
    assert len(candidates) == 4 and all(r["status_v2"] == "succeeded" for r in candidates)  # 2 candidates x k = 2
    groups = groups_by(done["grouped_distributional_summaries"], "instance_id")
    for instance_id, values in ((out["base"], [1.0, 3.0]), (out["c1"], [2.0, 6.0]), (out["c2"], [11.0, 13.0])):
        assert_summary(groups[(instance_id,)]["indicator_distributions"]["result.value"], values)
    assert out["updated"] == ["renamed", "new"]
    assert f"{out['app_id']}-sh" in out["listed"] and out["listed"] == out["legacy"]
    assert (out["second"], out["canceled"], out["gone"]) == ("draft", "canceled", 404)


def test_switchback_tests_through_the_sdk(sdk113: Any, stats_app: Path) -> None:
    out = run(sdk113, """
        app, version_id, base = deploy(APP_ID, APP_DIR)
        cand = instance(app, version_id, "plus", offset=100)
        test = app.new_switchback_test(comparison=TestComparisonSingle(baseline_instance_id=base, candidate_instance_id=cand),
                                       unit_duration_minutes=60, units=4, switchback_test_id=f"{APP_ID}-sw", name="sw")
        created = test.to_dict()
        app.start_switchback_test(test.switchback_test_id)
        plan = app.switchback_test(test.switchback_test_id).plan
        first = plan.units[0].instance_id
        runs = [app.new_run(input={"x": x}, instance_id=base) for x in (1.0, 2.0)]
        infos = [wait_terminal(app, r) for r in runs]
        meta = app.switchback_test_metadata(test.switchback_test_id).status.value
        updated = app.update_switchback_test(test.switchback_test_id, description="about")
        app.stop_switchback_test(test.switchback_test_id, intent=StopIntent.COMPLETE)
        final = app.switchback_test(test.switchback_test_id)
        listed = [t.switchback_test_id for t in app.list_switchback_tests()] + [t.switchback_test_id for t in app.list_switchback_tests(no_pagination=True)]
        app.delete_switchback_test(test.switchback_test_id)
        emit({"base": base, "cand": cand, "created": created, "first": first, "units": [u.instance_id for u in plan.units],
              "ran_on": [i.metadata.application_instance_id for i in infos], "meta": meta, "updated": updated.description,
              "final": final.to_dict(), "listed": listed, "gone": status_of(lambda: app.switchback_test(test.switchback_test_id))})
    """, stats_app)
    assert out["created"]["status"] == "draft" and len(out["created"]["plan"]["units"]) == 4
    assert sorted(out["units"]) == sorted([out["base"]] * 2 + [out["cand"]] * 2)
    assert out["ran_on"] == [out["first"], out["first"]]  # both in unit 0
    assert out["meta"] == "started" and out["updated"] == "about"
    assert out["final"]["status"] == "completed" and len(out["final"]["runs"]) == 2
    assert out["listed"] == [f"{out['app_id']}-sw"] * 2 and out["gone"] == 404


def test_ensembles_through_the_sdk(sdk113: Any, stats_app: Path) -> None:
    out = run(sdk113, """
        app, version_id, base = deploy(APP_ID, APP_DIR)
        high = instance(app, version_id, "high", scale=3)
        groups = [RunGroup(id="base", instance_id=base), RunGroup(id="high", instance_id=high, repetitions=1),
                  RunGroup(id="tuned", instance_id=base, options={"offset": "2"})]
        rules = [EvaluationRule(id="most", statistics_path="$.result.value", objective=RuleObjective.MAXIMIZE,
                                tolerance=RuleTolerance(value=0.0, type=RuleToleranceType.ABSOLUTE), index=0)]
        made = app.new_ensemble_definition(run_groups=groups, rules=rules, id=f"{APP_ID}-ens", name="ens")
        old = app.new_ensemble_defintion(id=f"{APP_ID}-old", run_groups=groups[:1], rules=rules)
        got = app.ensemble_definition(made.id)
        listed = sorted(d.id for d in app.list_ensemble_definitions())
        legacy = sorted(d.id for d in app.list_ensemble_definitions(no_pagination=True))
        updated = app.update_ensemble_definition(made.id, name="renamed")
        config = RunConfiguration(run_type=RunTypeConfiguration(run_type=RunType.ENSEMBLE, definition_id=made.id))
        result = app.new_run_with_result(input={"x": 2.0}, configuration=config, polling_options=FAST)
        app.delete_ensemble_definition(old.id)
        emit({"made": made.to_dict(), "got": got.to_dict(), "listed": listed, "legacy": legacy, "updated": updated.name,
              "status": result.metadata.status_v2.value, "output": result.output, "ensemble": result.ensemble,
              "gone": status_of(lambda: app.ensemble_definition(old.id))})
    """, stats_app)
    assert out["made"] == out["got"] and out["made"]["run_groups"][1]["repetitions"] == 1
    assert out["listed"] == out["legacy"] == sorted([f"{out['app_id']}-ens", f"{out['app_id']}-old"])
    assert out["updated"] == "renamed" and out["gone"] == 404
    assert out["status"] == "succeeded"
    assert out["output"]["statistics"]["result"]["value"] == 6.0  # 2 x 3 beats 2 and 2 + 2
    ensemble = out["ensemble"]
    assert len(ensemble["child_runs"]) == 4
    winner = next(c for c in ensemble["child_runs"] if c["id"] == ensemble["winner_run_id"])
    assert (winner["run_group_id"], winner["repetition"]) == ("high", 0)  # the first of the tied repetitions


def test_clone_run_tracking_and_active_options_on_tracked_runs(sdk113: Any, stats_app: Path) -> None:
    out = run(sdk113, """
        from nextmv import TrackedRun, TrackedRunStatus

        app, version_id, base = deploy(APP_ID, APP_DIR)
        source = app.new_run(input={"x": 2.0}, instance_id=base, name="src", options={"scale": "3"})
        wait_terminal(app, source)
        clone = app.clone_run(source)
        info = wait_terminal(app, clone)
        tracked = app.track_run(TrackedRun(input={"x": 1}, output={"solution": {}}, status=TrackedRunStatus.SUCCEEDED,
                                           duration=5))
        tracked_info = wait_terminal(app, tracked)
        emit({"source": source, "cloned_from": info.metadata.tracking.cloned_run_id, "name": info.name,
              "options": info.metadata.options.active_options,
              "tracked_options": tracked_info.metadata.options.active_options,
              "output": app.run_result(clone).output["statistics"]["result"]["value"]})
    """, stats_app)
    assert out["cloned_from"] == out["source"] and out["name"] == "src clone"
    assert out["options"]["scale"] == "3" and out["output"] == 6.0  # the same input and options
    assert out["tracked_options"] == {}


WORKFLOW = '''
import json
from nextpipe import FlowSpec, needs, step


class Workflow(FlowSpec):
    @step
    def prepare(input: dict):
        """Add one."""
        return {"x": input["x"] + 1}

    @needs(predecessors=[prepare])
    @step
    def solve(data: dict):
        """Double it."""
        return {"y": data["x"] * 2}


flow = Workflow("DecisionFlow", {"x": 20})
flow.run()
print(json.dumps(flow.get_result(flow.solve)))
'''


def test_nextpipe_writes_its_flow_graph_and_it_reads_back(server: Any, tmp_path: Path) -> None:
    """nextpipe (PyPI) runs a two-step workflow whose uplink PUTs the flow graph to Runyard."""
    import subprocess

    from .harness import CACHE, Venv, _server_env

    venv = Venv(CACHE / "nextpipe-0.7.3", ("nextpipe==0.7.3", "nextmv==1.13.0"), "import nextpipe").ensure()
    app_id = server.create_app()
    # (the workflow runs here, not in Runyard: a tracked run stands for the workflow's run)
    run_id = server.api("POST", f"v1/applications/{app_id}/runs",
                        json={"input": {"x": 20}, "result": {"status": "succeeded"}}).json()["run_id"]
    script = tmp_path / "workflow.py"
    script.write_text(WORKFLOW)
    env = _server_env(NEXTMV_API_KEY=server.key, NEXTMV_ENDPOINT=server.url, NEXTMV_APP_ID=app_id, NEXTMV_RUN_ID=run_id)
    proc = subprocess.run([str(venv.python), str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"y": 42}
    assert "Failed to" not in proc.stderr, proc.stderr[-3000:]
    flow = server.api("GET", f"v1/internal/applications/{app_id}/runs/{run_id}/flow").json()
    steps = {s["id"]: s for s in flow["pipeline_graph"]["steps"]}
    assert set(steps) == {"prepare", "solve"} and flow["updated_at"]
    assert {n["parent_id"] for n in flow["pipeline_graph"]["nodes"]} == {"prepare", "solve"}
    assert steps["solve"]["predecessors"] == ["prepare"] and steps["prepare"]["docs"] == "Add one."


def test_compare_runs_on_statistics_objects_routed_and_tracked_runs(sdk113: Any, sdk028: Any, stats_app: Path) -> None:
    """1.13.0's ``compare_runs`` puts every value of its metadata model into a set: statistics objects and nested
    tracked metrics must reach it as scalars (on plain, switchback-routed and tracked runs), and 0.28.5 must still
    parse the same runs."""
    out = run(sdk113, """
        from nextmv import TrackedRun, TrackedRunStatus

        app, version_id, base = deploy(APP_ID, APP_DIR)
        cand = instance(app, version_id, "plus", offset=100)
        plain = app.new_run(input={"x": 2.0}, instance_id=base, options={"scale": "3"})
        wait_terminal(app, plain)
        test = app.new_switchback_test(comparison=TestComparisonSingle(baseline_instance_id=base, candidate_instance_id=cand),
                                       unit_duration_minutes=60, units=2, switchback_test_id=f"{APP_ID}-sw", name="sw")
        app.start_switchback_test(test.switchback_test_id)
        routed = app.new_run(input={"x": 1.0}, instance_id=base)
        wait_terminal(app, routed)
        app.stop_switchback_test(test.switchback_test_id, intent=StopIntent.COMPLETE)
        tracked = app.track_run(TrackedRun(input={"x": 1}, output={"solution": {}}, status=TrackedRunStatus.SUCCEEDED,
                                           duration=5, statistics={"result": {"value": 7.5}, "run": {"iterations": 4}},
                                           metrics={"cost": 12.5, "vehicles": {"used": 3}, "stops": [1, 2]}))
        old_style = app.track_run(TrackedRun(input={"x": 1}, output={"solution": {}}, status=TrackedRunStatus.SUCCEEDED,
                                             duration=6, statistics={"result": {"value": 9.0}}))
        for run_id in (tracked, old_style):
            wait_terminal(app, run_id)
        ids = [plain, routed, tracked, old_style]
        comparison = app.compare_runs(ids).to_flat_dict()
        emit({"ids": ids, "cand": cand, "comparison": comparison,
              "routed_meta": app.run_metadata(routed).metadata.to_dict()})
    """, stats_app)
    plain, routed, tracked, old_style = out["ids"]
    comparison = out["comparison"]
    assert comparison["metrics"]["value"] == {plain: 6.0, routed: comparison["metrics"]["value"][routed]}
    assert comparison["metrics"]["cost"] == {tracked: 12.5}
    assert comparison["metrics"]["vehicles.used"] == {tracked: 3}
    assert comparison["metrics"]["stops"] == {tracked: "[1,2]"}
    assert comparison["metrics"]["result.value"] == {old_style: 9.0}  # statistics stand in when there are no metrics
    assert comparison["options"]["scale"] == {plain: "3"}
    assert comparison["metadata"]["experiment_type"] == {routed: "switchback"}
    assert set(comparison["metadata"]["status"].values()) == {"succeeded"}
    assert out["routed_meta"]["application_instance_id"] in (out["cand"], f"{out['app_id']}-i1")

    old = sdk028.run(
        "app = Application(client=client, id=os.environ['APP_ID'])\n"
        "emit([[app.run_metadata(r).metadata.status.value, app.run_result(r).metadata.status_v2.value]"
        " for r in os.environ['IDS'].split(',')])\n",
        env={"APP_ID": out["app_id"], "IDS": ",".join(out["ids"])},
    )
    assert old == [["succeeded", "succeeded"]] * 4

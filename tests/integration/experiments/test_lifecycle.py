"""Failures inside experiments, deletion rules, and what deleting leaves behind."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import Lab, ok, wait_for


def test_a_failing_run_is_counted_not_hidden(lab: Lab) -> None:
    base = lab.instance("base")
    input_set = lab.input_set("s", lab.inputs("x", [1.0, {"x": 2.0, "fail": True}, 3.0]))
    lab.batch("mixed", input_set_id=input_set, instance_ids=[base])
    exp = lab.wait_experiment("mixed")

    assert exp["status"] == "completed"
    assert (exp["number_of_runs"], exp["number_of_completed_runs"]) == (3, 3)
    assert (exp["number_of_succeeded_runs"], exp["number_of_failed_runs"]) == (2, 1)
    (group,) = exp["grouped_distributional_summaries"]
    assert (group["number_of_runs_total"], group["number_of_runs_succeeded"], group["number_of_runs_failed"]) == (3, 2, 1)
    dist = group["indicator_distributions"]["result.value"]
    assert (dist["count"], dist["min"], dist["max"], dist["mean"]) == (2, 1.0, 3.0, 2.0)
    runs = lab.experiment_runs("mixed")
    assert sorted(r["status_v2"] for r in runs) == ["failed", "succeeded", "succeeded"]
    (failed,) = [r for r in runs if r["status_v2"] == "failed"]
    assert failed["input_id"] == "x-1" and failed["experiment_id"] == "mixed"
    assert lab.metadata(failed["id"])["error"]

    listed = ok(lab.api.get(f"{lab.base}/experiments/batch", params={"type": "batch"}))
    (item,) = [e for e in listed if e["id"] == "mixed"]
    assert item["number_of_failed_runs"] == 1 and item["status"] == "completed"


def test_an_experiment_whose_runs_all_fail_ends_failed(lab: Lab) -> None:
    base = lab.instance("base")
    input_set = lab.input_set("s", lab.inputs("bad", [{"x": 1, "fail": True}, {"x": 2, "fail": True}]))
    lab.batch("broken", input_set_id=input_set, instance_ids=[base])
    exp = lab.wait_experiment("broken")
    assert exp["status"] == "failed"
    assert (exp["number_of_runs"], exp["number_of_completed_runs"], exp["number_of_failed_runs"]) == (2, 2, 2)
    (group,) = exp["grouped_distributional_summaries"]
    assert (group["number_of_runs_failed"], group["indicator_keys"]) == (2, [])


def test_acceptance_reports_a_side_without_values(lab: Lab) -> None:
    control, candidate = lab.instance("control"), lab.instance("candidate", scale="2")
    ids = lab.inputs("x", [1.0, 2.0])
    bad = lab.managed_input("bad", {"x": 1, "fail": True})
    runs = [{"input_id": i, "instance_id": control} for i in ids] + [{"input_id": bad, "instance_id": candidate}]
    lab.batch("onesided", runs=runs)
    metric = {"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
              "params": {"operator": "ge", "tolerance": {"type": "absolute", "value": 0}}}
    body = {"id": "onesided", "name": "onesided", "control": {"instance_id": control},
            "candidate": {"instance_id": candidate}, "metrics": [metric]}
    ok(lab.api.post(f"{lab.base}/experiments/acceptance", json=body))
    lab.wait_experiment("onesided")
    test = ok(lab.api.get(f"{lab.base}/experiments/acceptance/onesided"))
    assert test["status"] == "completed"
    assert test["results"]["passed"] is False and "candidate" in test["results"]["error"]
    (result,) = test["results"]["metric_results"]
    assert result["passed"] is False
    assert result["statistics"]["candidate"]["number_of_runs_total"] == 1
    assert result["statistics"]["candidate"]["distribution_summary_statistics"]["count"] == 0
    assert result["statistics"]["control"]["distribution_summary_statistics"]["count"] == 2


def test_an_input_set_in_use_cannot_be_deleted(lab: Lab) -> None:
    base = lab.instance("base")
    input_set = lab.input_set("used", lab.inputs("x", [1.0]))
    lab.batch("user", input_set_id=input_set, instance_ids=[base])
    response = lab.api.delete(f"{lab.base}/experiments/inputsets/used")
    assert response.status_code == 409
    assert "user" in response.text and "used" in response.text
    assert ok(lab.api.get(f"{lab.base}/experiments/inputsets/used"))["input_ids"] == ["x-0"]

    lab.wait_experiment("user")
    ok(lab.api.delete(f"{lab.base}/experiments/batch/user"), 204)
    ok(lab.api.delete(f"{lab.base}/experiments/inputsets/used"), 204)
    assert lab.api.get(f"{lab.base}/experiments/inputsets/used").status_code == 404


def run_dirs(blob_root: Path, run_ids: list[str]) -> list[str]:
    return sorted(r for r in run_ids if (blob_root / "runs" / r).exists())


def test_deleting_an_experiment_removes_its_runs_and_their_files(lab: Lab, blob_root: Path) -> None:
    control, candidate = lab.instance("control"), lab.instance("candidate", scale="2")
    input_set = lab.input_set("s", lab.inputs("x", [1.0, 2.0, {"x": 3.0, "fail": True}]))
    lab.batch("gone", input_set_id=input_set, instance_ids=[candidate, control])
    metric = {"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
              "params": {"operator": "ge", "tolerance": {"type": "absolute", "value": 0}}}
    ok(lab.api.post(f"{lab.base}/experiments/acceptance", json={
        "id": "gone", "name": "gone", "control": {"instance_id": control}, "candidate": {"instance_id": candidate},
        "metrics": [metric]}))
    lab.wait_experiment("gone")
    bystander = lab.submit({"x": 5}, control)
    lab.wait_run(bystander)
    run_ids = [r["id"] for r in lab.experiment_runs("gone")]
    assert len(run_ids) == 6
    assert run_dirs(blob_root, run_ids) == sorted(run_ids)  # logs and outputs are there before
    assert any((blob_root / "runs" / r / "output").exists() for r in run_ids)

    ok(lab.api.delete(f"{lab.base}/experiments/batch/gone"), 204)

    assert lab.api.get(f"{lab.base}/experiments/batch/gone").status_code == 404
    assert lab.api.get(f"{lab.base}/experiments/acceptance/gone").status_code == 404
    for run_id in run_ids:
        assert lab.api.get(f"{lab.base}/runs/{run_id}/metadata").status_code == 404
    remaining = [r["id"] for r in ok(lab.api.get(f"{lab.base}/runs"))["runs"]]
    assert remaining == [bystander]
    assert run_dirs(blob_root, run_ids) == []
    assert (blob_root / "runs" / bystander / "output").exists()
    # the inputs the experiment used are untouched and still usable
    lab.batch("again", input_set_id=input_set, instance_ids=[control])
    assert lab.wait_experiment("again")["number_of_succeeded_runs"] == 2


def test_deleting_a_running_experiment_stops_it_and_leaves_no_files(start_server, blob_root: Path) -> None:
    lab = Lab(start_server(concurrency=1))
    base = lab.instance("base")
    warm = lab.submit({"x": 1}, base)  # builds the app environment first
    lab.wait_run(warm)
    input_set = lab.input_set("slow", lab.inputs("s", [{"x": k, "sleep": 1.0, "trap": True} for k in range(4)]))
    lab.batch("slow", input_set_id=input_set, instance_ids=[base])
    run_ids = [r["id"] for r in lab.experiment_runs("slow")]
    wait_for(lambda: any(lab.metadata(r)["status_v2"] == "running" for r in run_ids), what="a run to start")

    ok(lab.api.delete(f"{lab.base}/experiments/batch/slow"), 204)
    time.sleep(1.5)  # longer than a run would have needed to finish and write its files

    assert run_dirs(blob_root, run_ids) == []
    for run_id in run_ids:
        assert lab.api.get(f"{lab.base}/runs/{run_id}/metadata").status_code == 404
    after = lab.submit({"x": 2}, base)  # the slot was freed: the next run starts at once
    assert lab.wait_run(after, timeout=10)["status_v2"] == "succeeded"


def test_a_managed_input_outlives_the_run_it_was_made_from(lab: Lab) -> None:
    base = lab.instance("base")
    source = lab.submit({"x": 6}, base)
    lab.wait_run(source)
    ok(lab.api.post(f"{lab.base}/inputs", json={"id": "kept", "run_id": source}))
    ok(lab.api.delete(f"{lab.base}/runs/{source}"), 204)

    input_set = lab.input_set("s", ["kept"])
    lab.batch("later", input_set_id=input_set, instance_ids=[base])
    exp = lab.wait_experiment("later")
    assert exp["number_of_succeeded_runs"] == 1, lab.experiment_runs("later")
    (group,) = exp["grouped_distributional_summaries"]
    assert group["indicator_distributions"]["result.value"]["mean"] == 6.0


def test_a_managed_input_made_from_an_experiment_run_outlives_the_experiment(lab: Lab) -> None:
    base = lab.instance("base")
    lab.batch("first", input_set_id=lab.input_set("s", lab.inputs("x", [4.0])), instance_ids=[base])
    lab.wait_experiment("first")
    (run,) = lab.experiment_runs("first")
    ok(lab.api.post(f"{lab.base}/inputs", json={"id": "from-exp", "run_id": run["id"]}))
    ok(lab.api.delete(f"{lab.base}/experiments/batch/first"), 204)
    ok(lab.api.delete(f"{lab.base}/experiments/inputsets/s"), 204)

    lab.batch("second", runs=[{"input_id": "from-exp", "instance_id": base}])
    exp = lab.wait_experiment("second")
    assert exp["number_of_succeeded_runs"] == 1, lab.experiment_runs("second")


def test_bad_bodies_answer_400(lab: Lab) -> None:
    lab.inputs("x", [1.0])
    base = lab.instance("base")
    cases = [
        ("experiments/inputsets", {"id": "s1", "inputs": [{"name": "no id"}]}),
        ("experiments/inputsets", {"id": "s2", "inputs": [{"id": 5}]}),
        ("experiments/inputsets", {"id": "s3"}),
        ("experiments/inputsets", {"id": "s4", "inputs": [{"id": "missing"}]}),
        ("experiments/batch", {"id": "b1"}),
        ("experiments/batch", {"id": "b2", "runs": [{"input_id": "x-0"}]}),
        ("experiments/batch", {"id": "b3", "runs": [{"input_id": "x-0", "instance_id": base, "option_set": "nope"}]}),
        ("experiments/batch", {"id": "b4", "type": "shadow", "runs": [{"input_id": "x-0", "instance_id": base}]}),
        ("inputs", {"id": "m1"}),
    ]
    for path, body in cases:
        response = lab.api.post(f"{lab.base}/{path}", json=body)
        assert response.status_code in (400, 404, 422), (path, body, response.status_code, response.text)
        assert response.text


def test_an_experiment_whose_runs_are_all_canceled_ends_canceled(start_server) -> None:
    lab = Lab(start_server(concurrency=1))
    base = lab.instance("base")
    blocker = lab.submit({"x": 0, "sleep": 30}, base)  # holds the only slot: the experiment stays queued
    wait_for(lambda: lab.metadata(blocker)["status_v2"] == "running", what="the blocker to start")
    lab.batch("idle", runs=[{"input_id": i, "instance_id": base} for i in lab.inputs("x", [1.0, 2.0])])
    for run in lab.experiment_runs("idle"):
        ok(lab.api.patch(f"{lab.base}/runs/{run['id']}/cancel"))
    exp = lab.wait_experiment("idle", timeout=10)
    assert exp["status"] == "canceled" and exp["number_of_canceled_runs"] == 2
    ok(lab.api.patch(f"{lab.base}/runs/{blocker}/cancel"))
    assert lab.wait_run(blocker, timeout=10)["status_v2"] == "canceled"


def test_listing_acceptance_tests_shows_finished_results(lab: Lab) -> None:
    """A test whose experiment ended is listed as completed, even when nothing read it since."""
    control, candidate = lab.instance("control"), lab.instance("candidate", scale="2")
    lab.batch("listed", input_set_id=lab.input_set("s", lab.inputs("x", [1.0])), instance_ids=[candidate, control])
    metric = {"field": "result.value", "statistic": "mean", "params": {"operator": "gt"}}  # no tolerance, no type
    created = ok(lab.api.post(f"{lab.base}/experiments/acceptance", json={
        "id": "listed", "name": "listed", "control": {"instance_id": control}, "candidate": {"instance_id": candidate},
        "metrics": [metric]}))
    assert created["metrics"] == [{"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
                                   "params": {"operator": "gt", "tolerance": {"type": "", "value": 0}}}]
    run_ids = [r["id"] for r in lab.experiment_runs("listed")]
    for run_id in run_ids:  # wait on the runs, not on the experiment (reading it would bring it up to date)
        lab.wait_run(run_id)
    (test,) = ok(lab.api.get(f"{lab.base}/experiments/acceptance"))
    assert test["status"] == "completed" and test["results"]["passed"] is True


def test_an_input_set_that_explicit_runs_draw_on_cannot_be_deleted(lab: Lab) -> None:
    """A scenario test can draw on several input sets; each of them is in use, not just the first."""
    base = lab.instance("base")
    first, second = lab.input_set("a", lab.inputs("a", [1.0])), lab.input_set("b", lab.inputs("b", [2.0]))
    lab.batch("two-sets", type="scenario", option_sets={"s_0": {}}, runs=[
        {"input_id": "a-0", "input_set_id": first, "instance_id": base, "option_set": "s_0", "scenario_id": "s"},
        {"input_id": "b-0", "input_set_id": second, "instance_id": base, "option_set": "s_0", "scenario_id": "s"},
    ])
    for set_id in (first, second):
        response = lab.api.delete(f"{lab.base}/experiments/inputsets/{set_id}")
        assert response.status_code == 409 and "two-sets" in response.text, response.text
    lab.wait_experiment("two-sets")


def test_a_time_window_input_set_takes_the_instances_own_runs(lab: Lab) -> None:
    base, other = lab.instance("base"), lab.instance("other")
    own = [lab.submit({"x": x}, base) for x in (1, 2)]
    lab.wait_run(lab.submit({"x": 3}, other))
    for run_id in own:
        lab.wait_run(run_id)
    lab.batch("replays", runs=[{"input_id": own[0], "instance_id": base}] * 3)
    lab.wait_experiment("replays")
    created = ok(lab.api.post(f"{lab.base}/experiments/inputsets", json={
        "id": "window", "instance_id": base, "start_time": "2000-01-01T00:00:00", "maximum_runs": 10}))
    assert sorted(created["input_ids"]) == sorted(own)
    assert all(i["run_id"] in own for i in created["inputs"])


def _trace_driver(engine, seen: list[tuple[int, str]], loop_driver=None):  # type: ignore[no-untyped-def]
    """Record (thread, statement) for every statement the database driver is given, below SQLAlchemy
    (reads run as ``PointRead``s bypass its execution events): SQLite's trace callback, which also
    shows the BEGIN and COMMIT that sqlite3 issues itself, or a recording psycopg cursor, and what the
    driver of reads on the event loop is given (``loop_driver``). Returns
    the function that stops it."""
    import threading

    from sqlalchemy import event

    def record(text: str) -> None:
        seen.append((threading.get_ident(), " ".join(text.split())))

    engines = [engine] if not isinstance(engine, list) else engine
    if engines[0].dialect.name == "sqlite":
        def checkout(dbapi_conn, record_, proxy) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.set_trace_callback(record)

        def checkin(dbapi_conn, record_) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.set_trace_callback(None)
    else:
        import psycopg

        class Recording(psycopg.Cursor):  # type: ignore[type-arg]
            def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
                record(str(query))
                return super().execute(query, params, **kwargs)

        def checkout(dbapi_conn, record_, proxy) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.cursor_factory = Recording

        def checkin(dbapi_conn, record_) -> None:  # type: ignore[no-untyped-def]
            if dbapi_conn is not None:
                dbapi_conn.cursor_factory = psycopg.Cursor

    def commit(conn) -> None:  # type: ignore[no-untyped-def]
        seen.append((threading.get_ident(), "COMMIT"))

    listeners = [(e, name, fn) for e in engines for name, fn in (("checkout", checkout), ("checkin", checkin), ("commit", commit))]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    restore = None
    if loop_driver is not None:  # point reads awaited on the event loop (asyncpg or psycopg): what the driver is given
        driver_fetch = loop_driver.fetch

        async def recording_fetch(conn, sql, bound, **kwargs):  # type: ignore[no-untyped-def]
            record(sql)
            return await driver_fetch(conn, sql, bound, **kwargs)

        loop_driver.fetch = recording_fetch

        def restore() -> None:
            del loop_driver.fetch  # (the instance attribute: the class's method again)

    def stop() -> None:
        for target, name, fn in listeners:
            event.remove(target, name, fn)
        if restore is not None:
            restore()
    return stop


def test_polling_a_started_experiment_only_reads(lab: Lab) -> None:
    """Clients poll an experiment many times a second: a started one is answered with SELECTs alone
    and no transaction to commit; the poll that finds every run ended completes it."""
    base = lab.instance("base")
    slow = lab.managed_input("slow", {"x": 1.0, "sleep": 1.5})
    lab.batch("polled", runs=[{"input_id": slow, "instance_id": base}])
    db = lab.api.client.app.state.platform.db
    engine = [db.engine, db.read_engine] if db.read_engine is not None else db.engine  # point reads have their own on PostgreSQL
    seen: list[tuple[int, str]] = []  # (thread, what): the run executing meanwhile writes from its own threads
    stop = _trace_driver(engine, seen, db.loop_driver)
    try:
        for path in ("/metadata", ""):
            seen.clear()
            answer = ok(lab.api.get(f"{lab.base}/experiments/batch/polled{path}"))
            assert answer["status"] == "started" and answer["number_of_runs"] == 1
            (reader,) = {thread for thread, what in seen if "FROM experiments" in what}
            mine = [what.split()[0].upper() for thread, what in seen if thread == reader]
            assert mine and set(mine) == {"SELECT"}, mine
    finally:
        stop()
    exp = lab.wait_experiment("polled")
    assert exp["status"] == "completed" and exp["number_of_succeeded_runs"] == 1
    assert ok(lab.api.get(f"{lab.base}/experiments/batch/polled/metadata"))["completed_at"]


def test_the_poll_fast_path_answers_as_the_full_stack(lab: Lab) -> None:
    """``GET …/experiments/batch/{id}[/metadata]`` is answered in front of FastAPI (server/hot.py); a
    query string sends it through the full stack. Both agree while the experiment runs and once it
    has completed (the poll that finds its runs ended falls through and completes it); errors are the
    full stack's."""
    base = lab.instance("base")
    lab.batch("fast", runs=[{"input_id": lab.managed_input("fast-in", {"x": 2.0, "sleep": 1.0}), "instance_id": base}])
    for path in ("", "/metadata"):
        fast = ok(lab.api.get(f"{lab.base}/experiments/batch/fast{path}"))
        full = ok(lab.api.get(f"{lab.base}/experiments/batch/fast{path}?full=1"))
        assert fast == full and fast["status"] == "started"
    done = wait_for(lambda: (e := ok(lab.api.get(f"{lab.base}/experiments/batch/fast/metadata")))["status"] != "started" and e,
                    what="the experiment to complete")
    assert done["status"] == "completed" and done["completed_at"]
    for path in ("", "/metadata"):
        fast = ok(lab.api.get(f"{lab.base}/experiments/batch/fast{path}"))
        assert fast == ok(lab.api.get(f"{lab.base}/experiments/batch/fast{path}?full=1"))
    assert "grouped_distributional_summaries" in ok(lab.api.get(f"{lab.base}/experiments/batch/fast"))
    missing = lab.api.get(f"{lab.base}/experiments/batch/nope/metadata")
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"] and missing.json()["request_id"]
    assert lab.api.client.get(f"{lab.base}/experiments/batch/fast/metadata").status_code == 401

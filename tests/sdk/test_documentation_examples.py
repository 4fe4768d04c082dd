"""The product documentation's SDK examples, written with ``from runyard import cloud`` and run
against a real Runyard server (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest

import runyard
from runyard import cloud

from .conftest import Deployed, LiveServer, unique


def wait_for_status(app: cloud.Application, run_id: str, statuses: set[str], timeout: float = 60) -> cloud.RunInformation:
    deadline = time.monotonic() + timeout
    while True:
        info = app.run_metadata(run_id)
        if info.metadata.status_v2.value in statuses:
            return info
        assert time.monotonic() < deadline, f"run {run_id} stuck in {info.metadata.status_v2.value}"
        time.sleep(0.02)


def test_run_with_polling(deployed: Deployed) -> None:
    app = deployed.app
    data = {"defaults": {"vehicles": {"speed": 20}}, "stops": [{"id": "Nijō Castle", "quantity": -1}]}

    result = app.new_run_with_result(input=data, instance_id="latest", run_options={"sleep": "0"},
                                     polling_options=cloud.PollingOptions())
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded
    assert result.metadata.status == cloud.Status.succeeded
    assert result.output["solution"] == data
    assert result.to_dict()["output"]["statistics"] == {"result": {"value": 1}}

    run_id = app.new_run(input=data, instance_id=deployed.instance.id, name="polled", description="doc example")
    polled = app.run_result_with_polling(run_id=run_id, polling_options=cloud.PollingOptions(max_duration=60))
    assert (polled.id, polled.name, polled.description) == (run_id, "polled", "doc example")
    assert polled.metadata.application_instance_id == deployed.instance.id
    assert polled.metadata.application_version_id == deployed.version.id
    assert app.run_input(run_id) == data
    assert "echo: line 2" in app.run_logs(run_id).log
    assert app.run_result(run_id).output == polled.output


def test_non_json_text_input(deployed: Deployed) -> None:
    text = "line one\nline two — ünïcode"
    config = cloud.RunConfiguration(format=cloud.Format(format_input=cloud.FormatInput(input_type=runyard.InputFormat.TEXT)))
    result = deployed.app.new_run_with_result(input=text, instance_id=deployed.instance.id, configuration=config)
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded
    assert result.output["solution"] == {"text": text}
    assert deployed.app.run_input(result.id) == text
    via_input = deployed.app.new_run_with_result(input=runyard.Input(data=text, input_format=runyard.InputFormat.TEXT),
                                                 configuration=config)
    assert via_input.output["solution"] == {"text": text}


def test_cancel_a_run(deployed: Deployed) -> None:
    app = deployed.app
    run_id = app.new_run(input={"slow": True}, instance_id=deployed.instance.id, options={"sleep": 60})
    wait_for_status(app, run_id, {"running"})
    app.cancel_run(run_id)
    result = app.run_result_with_polling(run_id, polling_options=cloud.PollingOptions(max_duration=30))
    assert result.metadata.status_v2 == cloud.StatusV2.canceled


def test_failed_run_has_an_error_log(deployed: Deployed) -> None:
    result = deployed.app.new_run_with_result(input={"x": 1}, instance_id=deployed.instance.id, run_options={"fail": True})
    assert result.metadata.status_v2 == cloud.StatusV2.failed
    assert result.metadata.status == cloud.Status.failed
    assert result.error_log is not None
    assert "failing on purpose" in deployed.app.run_logs(result.id).log


def test_external_tracked_run(deployed: Deployed) -> None:
    app = deployed.app
    started = time.time()
    output = runyard.Output(solution={"route": [1, 2, 3]}, statistics={"result": {"value": 42}})
    tracked = cloud.TrackedRun(
        input=runyard.Input(data={"stops": 3}), output=output, status=cloud.TrackedRunStatus.SUCCEEDED,
        duration=cloud.run_duration(started, time.time()), logs=["solving", "done"],
    )
    result = app.track_run_with_result(tracked_run=tracked, instance_id=deployed.instance.id)
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded
    assert result.output["solution"] == {"route": [1, 2, 3]}
    assert app.run_input(result.id) == {"stops": 3}
    assert app.run_logs(result.id).log.splitlines() == ["solving", "done"]

    failed = cloud.TrackedRun(input={"stops": 1}, output={}, status=cloud.TrackedRunStatus.FAILED, error="infeasible")
    run_id = app.track_run(failed)
    assert app.run_metadata(run_id).metadata.status_v2 == cloud.StatusV2.failed


def test_application_and_account_methods(client: cloud.Client, live_server: LiveServer, app_dir) -> None:  # type: ignore[no-untyped-def]
    app_id = unique("app")
    assert cloud.Application.exists(client=client, id=app_id) is False
    app = cloud.Application.new(client=client, name="Doc app", id=app_id, description="from the docs")
    assert cloud.Application.exists(client=client, id=app_id) is True
    assert cloud.Application.new(client=client, name="again", id=app_id, exist_ok=True).id == app_id
    with pytest.raises(cloud.ConflictError):
        cloud.Application.new(client=client, name="again", id=app_id)

    app.push(app_dir=str(app_dir("echo")), verbose=True)
    version = app.new_version(id=f"{app_id}-v1", name="v1", description="first")
    assert app.version(version.id).executable.requirements.executable_type == "python"
    assert app.new_version(id=version.id, exist_ok=True).id == version.id
    assert [v.id for v in app.list_versions()] == [version.id]

    config = cloud.InstanceConfiguration(options={"sleep": "0"})
    instance = app.new_instance(version_id=version.id, id=f"{app_id}-i1", name="i1", configuration=config)
    assert app.new_instance(version_id=version.id, id=instance.id, name="x", exist_ok=True).name == "i1"
    assert instance.id in [i.id for i in app.list_instances()]
    updated = app.update_instance(id=instance.id, name="renamed", description="changed")
    assert (updated.name, updated.description, updated.version_id) == ("renamed", "changed", version.id)
    assert app.instance_exists(instance.id)

    queue = cloud.Account(client=client).queue()
    assert isinstance(queue.runs, list)
    run_id = app.new_run(input={"q": 1}, instance_id=instance.id, options={"sleep": 30})
    wait_for_status(app, run_id, {"queued", "running"})
    assert run_id in [r.id for r in cloud.Account(client=client).queue().runs]
    app.cancel_run(run_id)

    app.delete_instance(instance.id)
    assert not app.instance_exists(instance.id)
    app.delete()
    assert cloud.Application.exists(client=client, id=app_id) is False


def test_follow_logs_while_the_run_executes(deployed: Deployed) -> None:
    app = deployed.app
    run_id = app.new_run(input={"x": 1}, instance_id=deployed.instance.id, options={"sleep": 3})
    lines = app.run_logs(run_id, follow=True)
    first = next(line for line in lines if line.startswith("echo:"))
    # The first line arrives while the app is still sleeping: the logs are streamed, not collected.
    assert first == "echo: line 0"
    assert app.run_metadata(run_id).metadata.status_v2 == cloud.StatusV2.running
    rest = [line for line in lines if line.startswith("echo:")]  # ends when the run ends
    assert rest == ["echo: line 1", "echo: line 2"]
    assert app.run_metadata(run_id).metadata.status_v2 == cloud.StatusV2.succeeded


def test_experiments_and_secrets(deployed: Deployed) -> None:
    app, instance = deployed.app, deployed.instance
    run_ids = [app.new_run(input={"n": n}, instance_id=instance.id) for n in range(2)]
    for run_id in run_ids:
        app.run_result_with_polling(run_id)
    inputs = [app.new_managed_input(id=unique("input"), name=f"from run {i}", run_id=r) for i, r in enumerate(run_ids)]
    assert {m.id for m in app.list_managed_inputs()} >= {m.id for m in inputs}
    upload = app.upload_url()
    app.upload_large_input(input={"n": 9}, upload_url=upload)
    inputs.append(app.new_managed_input(id=unique("input"), name="uploaded", upload_id=upload.upload_id))

    input_set = app.new_input_set(id=unique("set"), name="set", inputs=inputs)
    assert sorted(input_set.input_ids) == sorted(m.id for m in inputs)

    second = app.new_instance(version_id=deployed.version.id, id=unique("inst"), name="candidate")
    test_id = unique("acc")
    metric = cloud.Metric(
        field="result.value", metric_type=cloud.MetricType.direct_comparison, statistic=cloud.StatisticType.mean,
        params=cloud.MetricParams(operator=cloud.Comparison.less_than_or_equal_to,
                                  tolerance=cloud.MetricTolerance(type=cloud.ToleranceType.relative, value=0.1)),
    )
    test = app.new_acceptance_test_with_result(
        candidate_instance_id=second.id, baseline_instance_id=instance.id, id=test_id, name="acceptance",
        metrics=[metric], input_set_id=input_set.id, description="doc example",
        polling_options=cloud.PollingOptions(initial_delay=0.1, delay=0.1, backoff=0.05, jitter=0, max_duration=120),
    )
    assert test.status == cloud.ExperimentStatus.completed
    assert test.results is not None and test.results.passed is True
    batch = app.batch_experiment(test_id)
    assert set(batch.instance_ids) == {second.id, instance.id} and batch.status == "completed"
    assert test_id in [b.id for b in app.list_batch_experiments()]

    secret = cloud.Secret(secret_type=cloud.SecretType.ENV, location="API_TOKEN", value="s3cret")
    summary = app.new_secrets_collection(secrets=[secret], id=unique("sc"), name="tokens")
    assert app.secrets_collection(summary.collection_id).secrets[0].location == "API_TOKEN"
    assert summary.collection_id in [s.collection_id for s in app.list_secrets_collections()]
    app.delete_secrets_collection(summary.collection_id)
    with pytest.raises(cloud.NotFoundError):
        app.secrets_collection(summary.collection_id)


def test_archive_inputs(deployed: Deployed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = deployed.app
    rows = {"stops": [{"id": "a", "demand": "1"}, {"id": "b", "demand": "2"}], "vehicles": [{"id": "v"}]}
    csv_input = runyard.Input(data=rows, input_format=runyard.InputFormat.CSV_ARCHIVE)
    result = app.new_run_with_result(input=csv_input, instance_id=deployed.instance.id)
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded, result.error_log
    assert result.output["solution"]["files"] == {"stops.csv": "id,demand\na,1\nb,2\n", "vehicles.csv": "id\nv\n"}

    folder = tmp_path / "multi"
    (folder / "nested").mkdir(parents=True)
    (folder / "data.json").write_text('{"k": 1}')
    (folder / "nested" / "notes.txt").write_text("hello")
    result = app.new_run_with_result(input_dir_path=str(folder), instance_id=deployed.instance.id)
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded, result.error_log
    assert result.output["solution"]["files"] == {"data.json": '{"k": 1}', "nested/notes.txt": "hello"}


def test_push_ships_the_manifest_requirements(client: cloud.Client, app_dir) -> None:  # type: ignore[no-untyped-def]
    """The bundle carries ``requirements.txt`` instead of pre-installed wheels; the server installs it."""
    app_id = unique("app")
    app = cloud.Application.new(client=client, name=app_id, id=app_id)
    app.push(app_dir=str(app_dir("with-req")))
    result = app.new_run_with_result(input={"x": 1}, instance_id="latest",
                                     polling_options=cloud.PollingOptions(max_duration=300))
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded, app.run_logs(result.id).log
    assert result.output["solution"] == {"six": "1.16.0", "input": {"x": 1}}


def test_scenario_test(deployed: Deployed) -> None:
    app = deployed.app
    scenario = cloud.Scenario(
        scenario_input=cloud.ScenarioInput(scenario_input_type=cloud.ScenarioInputType.NEW,
                                           scenario_input_data=[{"n": 1}, {"n": 2}]),
        instance_id=deployed.instance.id,
        configuration=[cloud.ScenarioConfiguration(name="sleep", values=["0", "0.01"])],
    )
    test_id = unique("scn")
    assert app.new_scenario_test(id=test_id, name="scenarios", scenarios=[scenario], repetitions=0) == test_id
    deadline = time.monotonic() + 120
    while (test := app.scenario_test(test_id)).status not in ("completed", "failed"):
        assert time.monotonic() < deadline, test.status
        time.sleep(0.1)
    assert test.status == "completed" and test.number_of_runs == 4  # 2 inputs × 2 option sets
    assert set(test.option_sets or {}) == {"scenario-1_0", "scenario-1_1"}
    assert test_id in [t.id for t in app.list_scenario_tests()]


def test_large_input_and_output_go_through_urls(deployed: Deployed) -> None:
    """Over 5 MiB the input is uploaded to an upload URL and the output fetched from a download URL."""
    data = {"blob": "x" * (5 * 1024 * 1024 + 100)}
    result = deployed.app.new_run_with_result(input=data, instance_id=deployed.instance.id)
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded
    assert result.metadata.input_size > 5 * 1024 * 1024 and result.metadata.output_size > 5 * 1024 * 1024
    assert result.output["solution"] == data
    assert deployed.app.run_input(result.id) == data

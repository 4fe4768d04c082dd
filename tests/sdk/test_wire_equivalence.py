"""``runyard.cloud`` sends what the official ``nextmv`` 0.28.5 SDK sends, call for call.

The same script runs twice against a recording server: once in the official SDK's venv (built by
the compat harness under ``.cache/compat/nextmv-0.28.5``) with ``from nextmv import cloud``, once
here with ``from runyard import cloud``. Each step's requests (method, path, query, JSON body or raw
body, byte for byte, ``Authorization`` and ``Content-Type``) must be identical, except for the differences listed
in ``DELIBERATE``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from compat.harness import sdk_venv

from .recorder import Recorded, Recorder, recording_server

pytestmark = pytest.mark.compat

SCRIPT = '''
import datetime, os, sys, urllib.request

if sys.argv[1] == "official":
    from nextmv import cloud
else:
    from runyard import cloud

URL = os.environ["REC_URL"]
client = cloud.Client(api_key="wire-key", url=URL)
utc = datetime.timezone.utc


def step(name):
    urllib.request.urlopen(f"{URL}/__step__/{name}").read()


step("app_new")
app = cloud.Application.new(client=client, name="Wire app", id="wire-app", description="an app")
step("app_new_exist_ok")
cloud.Application.new(client=client, name="Wire app", id="wire-app", exist_ok=True)
step("app_exists_missing")
assert cloud.Application.exists(client=client, id="missing") is False
step("new_version")
app.new_version(id="v1", name="v one", description="first")
step("new_version_exist_ok")
app.new_version(id="v1", exist_ok=True)
step("new_instance")
app.new_instance(version_id="v1", id="i1", name="inst", description="x", configuration=cloud.InstanceConfiguration(
    execution_class="c1", options={"a": "1"}, secrets_collection_id="sc1"))
step("update_instance")
app.update_instance(id="i1", name="renamed", version_id="v1",
                    configuration=cloud.InstanceConfiguration(options={"b": "2"}))
step("list_instances")
app.list_instances()
step("new_run")
app.new_run(
    input={"x": 1, "name": "caf\\u00e9", "when": None}, instance_id="i1", name="n", description="d",
    options={"duration": "5", "n": 3, "flag": True, "nested": {"k": [1]}},
    configuration=cloud.RunConfiguration(
        execution_class="c1", format=cloud.Format(format_input=cloud.FormatInput(input_type="json")),
        secrets_collection_id="sc1", queuing=cloud.RunQueuing(priority=3, disabled=False)),
)
step("new_run_default_instance")
app.new_run(input={"x": 2})
step("new_run_text")
app.new_run(input="hello\\ntext", configuration={"format": {"input": {"type": "text"}}})
step("new_run_upload_id")
app.new_run(upload_id="upload-1", instance_id="i1", batch_experiment_id="b1")
step("run_metadata")
app.run_metadata("run-1")
step("run_result")
app.run_result("run-1")
step("run_input")
app.run_input("run-1")
step("run_logs")
app.run_logs("run-1")
step("cancel_run")
app.cancel_run("run-1")
step("upload_url")
url = app.upload_url()
step("upload_large_input")
app.upload_large_input(input={"big": [1, 2, 3]}, upload_url=url)
step("upload_large_input_text")
app.upload_large_input(input="plain text", upload_url=url)
step("run_result_with_polling")
app.run_result_with_polling("run-1", polling_options=cloud.PollingOptions(initial_delay=0))
step("track_run")
app.track_run(cloud.TrackedRun(input={"x": 1}, output={"solution": {"y": 2}}, status=cloud.TrackedRunStatus.SUCCEEDED,
                               duration=5), instance_id="i1")
step("new_batch_experiment")
app.new_batch_experiment(
    name="b", input_set_id="is1", instance_ids=["i1", "i2"], description="d", id="b1",
    option_sets={"s": {"a": "1"}}, runs=[cloud.BatchExperimentRun(option_set="s", input_id="in1", instance_id="i1")])
step("batch_experiment")
app.batch_experiment("b1")
step("new_acceptance_test")
app.new_acceptance_test(
    candidate_instance_id="i1", baseline_instance_id="i2", id="acc1", name="acc", input_set_id="is1",
    description="dd", metrics=[cloud.Metric(
        field="result.value", metric_type=cloud.MetricType.direct_comparison, statistic=cloud.StatisticType.mean,
        params=cloud.MetricParams(operator=cloud.Comparison.less_than_or_equal_to,
                                  tolerance=cloud.MetricTolerance(type=cloud.ToleranceType.relative, value=0.1)))])
step("new_secrets_collection")
app.new_secrets_collection(secrets=[cloud.Secret(secret_type=cloud.SecretType.ENV, location="A", value="1")],
                           id="sc1", name="s", description="x")
step("update_secrets_collection")
app.update_secrets_collection("sc1", name="s2", description="y",
                              secrets=[cloud.Secret(secret_type="file", location="f.txt", value="v")])
step("list_secrets_collections")
app.list_secrets_collections()
step("new_managed_input")
app.new_managed_input(id="m1", name="m", upload_id="upload-1")
step("new_input_set")
app.new_input_set(id="is1", name="is", instance_id="i1", maximum_runs=5,
                  start_time=datetime.datetime(2024, 1, 1, tzinfo=utc), end_time=datetime.datetime(2024, 2, 1, tzinfo=utc))
step("account_queue")
cloud.Account(client=client).queue()
step("delete")
app.delete()
step("done")
'''

# Deliberate differences, by step: what runyard.cloud sends on top of the official SDK.
DELIBERATE = {
    # Every POST carries an Idempotency-Key so a retried POST (e.g. new_run) is not applied twice.
    "*": "Idempotency-Key header on POST requests (runyard only)",
    # *_with_result long-polls the result itself: the server answers when the run ends, with the output,
    # instead of being polled for the metadata first.
    # Before that, it asks for the run's event stream (absent here: the recorder answers 404) to learn the end.
    "run_result_with_polling": "GET …/runs/{run}/events, then one GET …/runs/{run}?wait=<seconds> instead of "
                               "GET …/metadata then GET …/runs/{run} (runyard only)",
}
LONG_POLL_STEPS = {"run_result_with_polling"}
COMPARED_HEADERS = ("authorization", "content-type")


def _normalized(req: Recorded, *, drop_wait: bool) -> dict[str, Any]:
    query = dict(req.query)
    if drop_wait:
        query.pop("wait", None)
    try:
        body: Any = req.json()
    except ValueError:
        body = req.body.decode()
    return {"method": req.method, "path": req.path, "query": query, "body": body, "raw_body": req.body,
            "headers": {h: req.headers.get(h) for h in COMPARED_HEADERS}}


def _record(recorder: Recorder, python: str, mode: str, tmp_path: Path) -> dict[str, list[Recorded]]:
    recorder.clear()
    script = tmp_path / "wire_calls.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run([python, str(script), mode], capture_output=True, text=True, timeout=120,
                          env={"REC_URL": recorder.url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, f"{mode} script failed:\n{proc.stdout}\n{proc.stderr}"
    return recorder.by_step()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Recorded]], dict[str, list[Recorded]]]:
    official_python = str(sdk_venv("0.28.5").python)
    tmp = tmp_path_factory.mktemp("wire")
    with recording_server() as recorder:
        official = _record(recorder, official_python, "official", tmp)
        ours = _record(recorder, sys.executable, "runyard", tmp)
    return official, ours


def test_same_steps(recordings) -> None:  # type: ignore[no-untyped-def]
    official, ours = recordings
    assert list(official) == list(ours)
    assert "delete" in official and len(official) >= 30


@pytest.mark.parametrize("step", [
    "app_new", "app_new_exist_ok", "app_exists_missing", "new_version", "new_version_exist_ok", "new_instance",
    "update_instance", "list_instances", "new_run", "new_run_default_instance", "new_run_text", "new_run_upload_id",
    "run_metadata", "run_result", "run_input", "run_logs", "cancel_run", "upload_url", "upload_large_input",
    "upload_large_input_text", "run_result_with_polling", "track_run", "new_batch_experiment", "batch_experiment",
    "new_acceptance_test", "new_secrets_collection", "update_secrets_collection", "list_secrets_collections",
    "new_managed_input", "new_input_set", "account_queue", "delete",
])
def test_step_sends_the_same_requests(recordings, step: str) -> None:  # type: ignore[no-untyped-def]
    official, ours = recordings
    drop_wait = step in LONG_POLL_STEPS
    # A long-polling step skips the metadata polls: what is left must be the official requests.
    expected = [_normalized(r, drop_wait=False) for r in official[step] if not (drop_wait and r.path.endswith("/metadata"))]
    got = [_normalized(r, drop_wait=drop_wait) for r in ours[step] if not (drop_wait and r.path.endswith("/events"))]
    assert got == expected


def test_deliberate_differences(recordings) -> None:  # type: ignore[no-untyped-def]
    official, ours = recordings
    for requests in official.values():
        assert all("idempotency-key" not in r.headers for r in requests)
    keys = [r.headers.get("idempotency-key") for reqs in ours.values() for r in reqs if r.method == "POST"]
    assert keys and all(keys) and len(set(keys)) == len(keys), "one fresh key per POST"
    assert not any("idempotency-key" in r.headers for reqs in ours.values() for r in reqs if r.method != "POST")
    assert any(r.path.endswith("/metadata") for r in official["run_result_with_polling"]), "the official SDK polls"
    assert ours["run_result_with_polling"][0].path.endswith("/events"), "the event stream is asked for first"
    waits = [r.query.get("wait") for r in ours["run_result_with_polling"] if not r.path.endswith("/events")]
    assert waits and all(waits), "the long-poll asks the server to wait, and needs no metadata poll"
    assert not any("wait" in r.query for step, reqs in ours.items() if step not in LONG_POLL_STEPS for r in reqs)


def test_presigned_upload_carries_no_api_key(recordings) -> None:  # type: ignore[no-untyped-def]
    _, ours = recordings
    (put,) = ours["upload_large_input"]
    assert put.method == "PUT" and "authorization" not in put.headers

"""The run contract through the official SDKs: input/output formats, options, live logs, cancel, large
payloads, run listing and the account queue.

The apps are pushed once per backend (module fixture ``apps``) with 1.13.0: 0.28.5 and 0.29.4 rewrite
``app.yaml`` from their own manifest model, which has no ``configuration.content``, so an app they push
loses its declared format. Every generation then runs them.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from .harness import SdkRunner, Server, Venv, copy_app, unique

pytestmark = pytest.mark.compat

APPS = {"ctl": "ctl-json", "text": "text-echo", "mf": "multi-file", "csv": "csv-archive"}
INSTANCE_OPTIONS = {"beta": "i-beta", "gamma": "i-gamma"}
CAPACITY = 2  # the default execution class runs two at once (settings.ExecutionClass.concurrency)

# Prepended to each script (after the harness prelude): fast polling and the module's apps.
HELPERS = '''
try:
    from nextmv import PollingOptions  # 1.x
except ImportError:
    from nextmv.cloud import PollingOptions
FAST = PollingOptions(initial_delay=0.05, delay=0.05, backoff=0.0, jitter=0.0, max_delay=0.25)
APPS = json.loads(os.environ["APPS"])


def app_of(key):
    """(Application, instance id) of one of the module's apps."""
    return Application(client=client, id=APPS[key]["app_id"]), APPS[key]["instance_id"]


def files_under(root):
    """{relative path: text} of every file under ``root``."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", newline="") as fh:
                out[os.path.relpath(path, root).replace(os.sep, "/")] = fh.read()
    return out


def download_output(app, run_id):
    """The run's output archive through the raw API (0.29.4 has no output_dir_path): {member: text}."""
    import io, tarfile
    url = client.request(method="GET", endpoint=f"{app.endpoint}/runs/{run_id}/output",
                         query_params={"format": "url"}).json()["url"]
    data = client.request(method="GET", endpoint=url, headers={"Content-Type": "application/json"}).content
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
'''


def run(runner: SdkRunner, apps: dict[str, Any], script: str, **env: str) -> Any:
    return runner.run(HELPERS + textwrap.dedent(script), env={"APPS": json.dumps(apps), **env})


@pytest.fixture(scope="module")
def apps(server: Server, sdk113_venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """{key: {"app_id", "instance_id"}}: each app pushed once, one version, one instance (ctl's has options)."""
    work = tmp_path_factory.mktemp("contract-apps")
    specs = {key: {"id": unique(key), "dir": str(copy_app(name, work / "apps"))} for key, name in APPS.items()}
    return SdkRunner("1.13.0", sdk113_venv, server, work).run(
        """
        from nextmv.cloud import InstanceConfiguration

        out = {}
        for key, spec in json.loads(os.environ["SPECS"]).items():
            app = Application.new(client=client, name=spec["id"], id=spec["id"])
            app.push(app_dir=spec["dir"])
            version = app.new_version(id=spec["id"] + "-v1", name="v1")
            config = None
            if key == "ctl":
                config = InstanceConfiguration(options=json.loads(os.environ["INSTANCE_OPTIONS"]))
            instance = app.new_instance(version_id=version.id, id=spec["id"] + "-i1", name="i1", configuration=config)
            out[key] = {"app_id": app.id, "instance_id": instance.id}
        emit(out)
        """,
        env={"SPECS": json.dumps(specs), "INSTANCE_OPTIONS": json.dumps(INSTANCE_OPTIONS)},
    )


def write_csvs(root: Path, files: dict[str, list[float]]) -> Path:
    for name, values in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "value"])
            writer.writerows((f"r{i}", v) for i, v in enumerate(values))
    return root


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# ------------------------------------------------------------------------------------------- formats


def test_text_input_reaches_the_app_and_comes_back(sdk, apps):
    """0.28.5 inlines ``"input": "hello"``; 1.13.0 always uploads a string and declares format text."""
    out = run(
        sdk,
        apps,
        """
        app, instance_id = app_of("text")
        result = app.new_run_with_result(input="hello", instance_id=instance_id, polling_options=FAST)
        emit({"status": result.metadata.status_v2.value, "output": result.output,
              "metadata": result.metadata.to_dict(), "input": app.run_input(result.id),
              "logs": app.run_logs(result.id).log})
        """,
    )
    assert out["status"] == "succeeded", out["logs"]
    assert out["output"] == {"solution": {"text": "hello", "upper": "HELLO", "length": 5}}
    assert out["input"] == "hello"
    assert out["metadata"]["input_size"] == 5
    assert "text-echo: read 5 characters" in out["logs"]
    if sdk.version != "0.28.5":
        assert out["metadata"]["format"] == {"input": {"type": "text"}, "output": {"type": "json"}}


MULTI_FILE_INPUT = {"a.csv": [1, 2.5], "sub/b.csv": [10, 20, 30]}
MULTI_FILE_TOTAL = 63.5
MULTI_FILE_SOLUTION = {"result.json": {"files": ["a.csv", "sub/b.csv"], "total": MULTI_FILE_TOTAL}}
MULTI_FILE_TOTALS = [["file", "total"], ["a.csv", "3.5"], ["sub/b.csv", "60.0"]]


def test_multi_file_input_dir_and_output_dir(sdk113, apps, tmp_path):
    """1.13.0: ``new_run(input_dir_path=…)`` uploads a tar.gz; ``run_result(output_dir_path=…)`` unpacks
    the output archive there. The user gets the solution files the app wrote, as the SDK's local runner
    gives them (the contents of ``outputs/solutions/``); metrics come in the run metadata."""
    inputs = write_csvs(tmp_path / "in", MULTI_FILE_INPUT)
    out = run(
        sdk113,
        apps,
        """
        app, instance_id = app_of("mf")
        run_id = app.new_run(input_dir_path=os.environ["IN"], instance_id=instance_id)
        info = wait_terminal(app, run_id)
        result = app.run_result(run_id, output_dir_path=os.environ["OUT"])
        app.run_input(run_id, output_dir_path=os.environ["IN_BACK"])
        emit({"status": info.metadata.status_v2.value, "format": info.metadata.to_dict()["format"],
              "metrics": result.metadata.metrics, "files": files_under(os.environ["OUT"]),
              "input_back": files_under(os.environ["IN_BACK"]), "logs": app.run_logs(run_id).log})
        """,
        IN=str(inputs),
        OUT=str(tmp_path / "out"),
        IN_BACK=str(tmp_path / "in-back"),
    )
    assert out["status"] == "succeeded", out["logs"]
    assert out["format"] == {"input": {"type": "multi-file"}, "output": {"type": "multi-file"}}
    assert sorted(out["files"]) == ["result.json", "totals.csv"], out["files"]
    assert json.loads(out["files"]["result.json"]) == MULTI_FILE_SOLUTION["result.json"]
    assert read_csv(out["files"]["totals.csv"]) == MULTI_FILE_TOTALS
    assert out["metrics"] == {"files": 2, "total": MULTI_FILE_TOTAL}
    assert out["input_back"] == {name: (inputs / name).read_bytes().decode() for name in MULTI_FILE_INPUT}
    assert "multi-file: read 2 files" in out["logs"]  # stdout is a log channel for multi-file apps


def test_multi_file_dir_path_029(sdk029, apps, tmp_path):
    """The documented 0.29.4 flow: ``new_run(dir_path=…, configuration=<format multi-file>)``."""
    inputs = write_csvs(tmp_path / "in", MULTI_FILE_INPUT)
    out = run(
        sdk029,
        apps,
        """
        from nextmv import InputFormat
        from nextmv.cloud import Format, FormatInput, RunConfiguration

        app, instance_id = app_of("mf")
        config = RunConfiguration(format=Format(format_input=FormatInput(input_type=InputFormat.MULTI_FILE)))
        run_id = app.new_run(dir_path=os.environ["IN"], configuration=config, instance_id=instance_id)
        info = wait_terminal(app, run_id)
        raw = client.request(method="GET", endpoint=f"{app.endpoint}/runs/{run_id}/metadata").json()
        emit({"status": info.metadata.status_v2.value, "metadata": raw["metadata"],
              "result": app.run_result(run_id).to_dict(), "files": download_output(app, run_id),
              "logs": app.run_logs(run_id).log})
        """,
        IN=str(inputs),
    )
    assert out["status"] == "succeeded", out["logs"]
    assert out["metadata"]["format"]["input"]["type"] == "multi-file"
    assert out["metadata"]["metrics"] == {"files": 2, "total": MULTI_FILE_TOTAL}
    assert out["result"]["metadata"]["status_v2"] == "succeeded"
    assert sorted(out["files"]) == ["result.json", "totals.csv"], out["files"]
    assert json.loads(out["files"]["result.json"]) == MULTI_FILE_SOLUTION["result.json"]


def test_csv_archive_dir_path_029(sdk029, sdk113, apps, tmp_path):
    """0.29.4 ``dir_path`` with CSV_ARCHIVE: the files land in ``./input/``; the solution CSVs the app
    writes to ``./output/`` are the output archive, which 1.13.0 unpacks into ``output_dir_path``."""
    inputs = write_csvs(tmp_path / "in", {"a.csv": [1, 2], "b.csv": [3.5]})
    first = run(
        sdk029,
        apps,
        """
        from nextmv import InputFormat
        from nextmv.cloud import Format, FormatInput, RunConfiguration

        app, instance_id = app_of("csv")
        config = RunConfiguration(format=Format(format_input=FormatInput(input_type=InputFormat.CSV_ARCHIVE)))
        run_id = app.new_run(dir_path=os.environ["IN"], configuration=config, instance_id=instance_id)
        info = wait_terminal(app, run_id)
        raw = client.request(method="GET", endpoint=f"{app.endpoint}/runs/{run_id}/metadata").json()
        emit({"run_id": run_id, "status": info.metadata.status_v2.value, "metadata": raw["metadata"],
              "files": download_output(app, run_id), "logs": app.run_logs(run_id).log})
        """,
        IN=str(inputs),
    )
    assert first["status"] == "succeeded", first["logs"]
    assert first["metadata"]["format"] == {"input": {"type": "csv-archive"}, "output": {"type": "csv-archive"}}
    assert first["metadata"]["metrics"] == {"result.value": 6.5, "files": 2}  # its statistics, as comparable leaves
    assert sorted(first["files"]) == ["totals.csv"], first["files"]
    assert read_csv(first["files"]["totals.csv"]) == [["file", "total"], ["a.csv", "3.0"], ["b.csv", "3.5"]]

    second = run(
        sdk113,
        apps,
        """
        app, _ = app_of("csv")
        result = app.run_result(os.environ["RUN_ID"], output_dir_path=os.environ["OUT"])
        emit({"status": result.metadata.status_v2.value, "files": files_under(os.environ["OUT"])})
        """,
        RUN_ID=first["run_id"],
        OUT=str(tmp_path / "out"),
    )
    assert second == {"status": "succeeded", "files": first["files"]}


# ------------------------------------------------------------------------------------------- options


def test_options_precedence_and_strict_manifest(sdk, apps):
    """manifest default < instance configuration < run; ``strict: true`` rejects an unknown option (400)."""
    out = run(
        sdk,
        apps,
        """
        app, instance_id = app_of("ctl")
        result = app.new_run_with_result(input={"k": 1}, instance_id=instance_id,
                                         run_options={"gamma": "r-gamma"}, polling_options=FAST)
        try:
            app.new_run(input={"k": 1}, instance_id=instance_id, options={"gamma": "x", "bogus": "1"})
            rejected = None
        except Exception as exc:
            rejected = {"type": type(exc).__name__, "status": http_status(exc), "message": str(exc)}
        emit({"status": result.metadata.status_v2.value, "output": result.output,
              "metadata": result.metadata.to_dict(), "rejected": rejected})
        """,
    )
    assert out["status"] == "succeeded"
    expected = {"alpha": "m-alpha", "beta": "i-beta", "gamma": "r-gamma", "lines": "0", "sleep": "0"}
    assert out["output"]["options"] == expected, out["output"]["argv"]
    if sdk.version != "0.28.5":
        options = out["metadata"]["options"]
        summary = {item["name"]: (item["value"], item["source"]) for item in options["options_summary"]}
        assert summary == {
            "alpha": ("m-alpha", "version"),
            "beta": ("i-beta", "instance"),
            "gamma": ("r-gamma", "run"),
            "lines": ("0", "version"),
            "sleep": ("0", "version"),
        }
        assert options["active_options"] == expected
        assert options["request_options"] == {"gamma": "r-gamma"}
    rejected = out["rejected"]
    assert rejected is not None, "an unknown option was accepted by a strict manifest"
    assert (rejected["type"], rejected["status"]) == ("HTTPError", 400), rejected
    assert "bogus" in rejected["message"], rejected


# ---------------------------------------------------------------------------------- logs and cancel


def test_live_logs_while_running(sdk113, apps):
    """``…/logs/live`` returns timestamped lines while the run is running; ``run_logs_with_polling``
    collects them all and returns once the run has ended."""
    out = run(
        sdk113,
        apps,
        """
        app, instance_id = app_of("ctl")
        run_id = app.new_run(input={"k": 1}, instance_id=instance_id, options={"lines": "5", "sleep": "2.5"})
        page, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            got = client.request(method="GET", endpoint=f"{app.endpoint}/runs/{run_id}/logs/live").json()
            if got["status_v2"] == "running" and any(i["log"].startswith("ctl-json: line") for i in got["items"]):
                page = got
                break
            time.sleep(0.05)
        polling = PollingOptions(initial_delay=0, max_duration=120)
        logs = app.run_logs_with_polling(run_id, polling_options=polling)
        emit({"page": page, "status_after": app.run_metadata(run_id).metadata.status_v2.value,
              "logs": [[entry.timestamp.isoformat(), entry.log] for entry in logs]})
        """,
    )
    page = out["page"]
    assert page is not None, "never saw a log line while the run was running"
    assert page["next_available_in_seconds"] > 0 and page["next_page_token"]
    assert all(item["timestamp"] and isinstance(item["log"], str) for item in page["items"])
    assert out["status_after"] == "succeeded"
    lines = [log for _, log in out["logs"] if log.startswith("ctl-json:")]
    assert lines == [f"ctl-json: line {i}" for i in range(5)] + ["ctl-json: done"]
    stamps = [datetime.fromisoformat(stamp) for stamp, _ in out["logs"]]
    assert stamps == sorted(stamps)


def test_cancel_queued_and_running_runs_and_the_account_queue(sdk, apps):
    """With the capacity taken by two sleeping runs a third one queues. ``cancel_run`` of the queued and
    of a running run ends both ``canceled`` (v1 ``failed`` for 0.28.5), keeping the partial log.
    0.28.5's ``Account.queue()`` lists the running and queued runs (1.13.0's raises before sending)."""
    out = run(
        sdk,
        apps,
        """
        app, instance_id = app_of("ctl")
        sleep = {"lines": "1", "sleep": "60"}
        sleepers = [app.new_run(input={"k": i}, instance_id=instance_id, options=sleep, name=f"sleeper-{i}")
                    for i in range(int(os.environ["CAPACITY"]))]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
            "ctl-json: line 0" in app.run_logs(r).log for r in sleepers
        ):
            time.sleep(0.1)
        queued = app.new_run(input={"k": 9}, instance_id=instance_id, name="waiting", description="in line")
        time.sleep(0.5)
        before = {r: app.run_metadata(r).metadata.to_dict() for r in [*sleepers, queued]}
        account_queue = None
        if os.environ["SDK"].startswith("0."):
            from nextmv.cloud import Account
            account_queue = [q.to_dict() for q in Account(client=client).queue().runs]
        app.cancel_run(queued)
        canceled_queued = wait_terminal(app, queued).metadata.to_dict()
        app.cancel_run(sleepers[0])
        canceled_running = wait_terminal(app, sleepers[0]).metadata.to_dict()
        for r in sleepers[1:]:
            app.cancel_run(r)
            wait_terminal(app, r)
        emit({"sleepers": sleepers, "queued": queued, "before": before, "account_queue": account_queue,
              "canceled_queued": canceled_queued, "canceled_running": canceled_running,
              "queued_log": app.run_logs(queued).log, "running_log": app.run_logs(sleepers[0]).log})
        """,
        CAPACITY=str(CAPACITY),
        SDK=sdk.version,
    )
    before = out["before"]
    for run_id in out["sleepers"]:
        assert before[run_id]["status_v2"] == "running", before[run_id]
    assert before[out["queued"]]["status_v2"] == "queued", "the run did not queue: is the capacity still 2?"

    for meta in (out["canceled_queued"], out["canceled_running"]):
        assert meta["status_v2"] == "canceled"
        if sdk.version == "0.28.5":
            assert meta["status"] == "failed"
    assert "ctl-json: line 0" in out["running_log"]  # the partial log is kept
    assert "ctl-json: done" not in out["running_log"]
    assert "ctl-json" not in out["queued_log"]  # it never started

    if sdk.version == "0.28.5":
        listed = {q["id"]: q for q in out["account_queue"]}
        ours = [*out["sleepers"], out["queued"]]
        assert set(ours) <= set(listed), listed
        fields = {
            "id", "user_email", "name", "description", "created_at", "application_id",
            "application_instance_id", "application_version_id", "execution_class", "status",
        }
        app_id, instance_id = apps["ctl"]["app_id"], apps["ctl"]["instance_id"]
        for run_id in ours:
            item = listed[run_id]
            assert fields <= set(item), item
            assert (item["application_id"], item["application_instance_id"]) == (app_id, instance_id)
            assert item["application_version_id"] == app_id + "-v1"
            assert item["status"] == "running"  # v1 has no "queued"
            assert item["execution_class"] and item["created_at"]
        assert (listed[out["queued"]]["name"], listed[out["queued"]]["description"]) == ("waiting", "in line")
        assert listed[out["sleepers"][0]]["name"] == "sleeper-0"
        # Running runs first, then the queue in the order it is served.
        order = [q["id"] for q in out["account_queue"] if q["id"] in ours]
        assert order == ours


# -------------------------------------------------------------------------------------- large data


def test_six_mib_input_and_output_round_trip(sdk, apps):
    """> 5 MiB: the input goes through ``uploadurl`` + PUT, the output comes back through a download URL
    (0.28.5: ``GET …/runs/{id}?format=url``; 1.13.0: ``…/output?format=url``)."""
    out = run(
        sdk,
        apps,
        """
        import hashlib

        def digest(value):
            return hashlib.sha256(json.dumps(value, separators=(",", ":"), sort_keys=True).encode()).hexdigest()

        data = {"rows": [f"{i:07d}-{(i * 7919) % 100003:06d}" for i in range(380_000)], "tail": "é✓"}
        size = len(json.dumps(data, separators=(",", ":")).encode())
        app, instance_id = app_of("ctl")
        result = app.new_run_with_result(input=data, instance_id=instance_id, polling_options=FAST)
        emit({"size": size, "status": result.metadata.status_v2.value,
              "input_size": result.metadata.input_size, "output_size": result.metadata.output_size,
              "output_matches": digest(result.output["solution"]) == digest(data),
              "input_matches": digest(app.run_input(result.id)) == digest(data)})
        """,
    )
    assert out["size"] > 6 * 1024 * 1024
    assert out["status"] == "succeeded"
    assert out["input_size"] == out["size"]
    assert out["output_size"] > 6 * 1024 * 1024
    assert out["output_matches"] and out["input_matches"]


# ----------------------------------------------------------------------------------- run management


def test_list_runs_paginated_and_delete_run(sdk113, apps):
    """55 runs (tracked, so nothing executes): ``…/runs?pagereturn=true`` pages are newest first, with no
    duplicate and none missing; ``list_runs()`` and ``list_runs(no_pagination=True)`` agree with them;
    ``delete_run`` removes a run."""
    out = run(
        sdk113,
        apps,
        """
        from nextmv import TrackedRun, TrackedRunStatus

        app, instance_id = app_of("ctl")
        created = [
            app.track_run(TrackedRun(input={"n": i}, output={"n": i}, status=TrackedRunStatus.SUCCEEDED),
                          instance_id=instance_id)
            for i in range(55)
        ]
        pages, token = [], None
        while True:
            query = {"pagereturn": "true", **({"pagetoken": token} if token else {})}
            page = client.request(method="GET", endpoint=f"{app.endpoint}/runs", query_params=query).json()
            pages.append([(r["id"], r["created_at"]) for r in page["runs"]])
            token = page.get("next_page_token")
            if not token:
                break
        listed = [r.id for r in app.list_runs()]
        unpaginated = [r.id for r in app.list_runs(no_pagination=True)]
        statuses = {r.id: r.status_v2.value for r in app.list_runs() if r.id in created}
        app.delete_run(created[0])
        try:
            app.run_metadata(created[0])
            after_delete = 200
        except Exception as exc:
            after_delete = http_status(exc)
        emit({"created": created, "pages": pages, "listed": listed, "unpaginated": unpaginated,
              "statuses": statuses, "after_delete": after_delete,
              "listed_after_delete": [r.id for r in app.list_runs()]})
        """,
    )
    created, pages = out["created"], out["pages"]
    assert len(pages) >= 2 and all(len(p) <= 50 for p in pages), [len(p) for p in pages]
    flat = [run_id for page in pages for run_id, _ in page]
    assert len(flat) == len(set(flat)), "a run appears on two pages"
    stamps = [datetime.fromisoformat(stamp) for page in pages for _, stamp in page]
    assert stamps == sorted(stamps, reverse=True), "pages are not newest first"
    assert flat == out["listed"] == out["unpaginated"]
    assert [r for r in flat if r in created] == created[::-1], "missing or misordered runs"
    assert set(out["statuses"].values()) == {"succeeded"} and len(out["statuses"]) == 55
    assert out["after_delete"] == 404
    assert created[0] not in out["listed_after_delete"]
    assert len(out["listed_after_delete"]) == len(flat) - 1

"""``poll`` follows the documented 0.28.5 schedule, and ``*_with_result`` long-polls instead of
sleeping, falling back to that schedule on a server that ignores ``?wait=``."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from compat.harness import sdk_venv
from runyard import cloud
from runyard.sdk._events import stream_events

from .conftest import Deployed
from .recorder import recording_server, run_info

NO_JITTER = {"jitter": 0}


def schedule(options: cloud.PollingOptions, fail_times: int) -> tuple[list[float], object]:
    """The sleeps ``poll`` asks for while ``polling_func`` fails ``fail_times`` times, and its result."""
    sleeps: list[float] = []
    calls = iter(range(10_000))

    def attempt() -> tuple[str | None, bool]:
        n = next(calls)
        return ("done", True) if n >= fail_times else (None, False)

    result = cloud.poll(options, attempt, sleeps.append)
    return sleeps, result


def test_default_backoff_without_jitter() -> None:
    sleeps, result = schedule(cloud.PollingOptions(**NO_JITTER), fail_times=8)
    assert result == "done"
    # initial delay, then delay + backoff·2^ix clamped at max_delay (and staying there)
    assert sleeps == pytest.approx([1, 1.9, 3.7, 7.3, 14.5, 20, 20, 20, 20])


def test_jitter_stays_within_bounds_and_the_cap() -> None:
    sleeps, _ = schedule(cloud.PollingOptions(), fail_times=7)
    for ix, slept in enumerate(sleeps[1:], start=1):
        base = 0.1 + 0.9 * 2**ix
        assert (base <= slept <= base + 1) or slept == 20


def test_same_schedule_as_the_official_sdk() -> None:
    """Deterministic (jitter 0) schedules, including max_delay, compared with nextmv 0.28.5's ``poll``."""
    script = """
import json
from nextmv.cloud import PollingOptions, poll
out = []
for opts in ({"jitter": 0}, {"jitter": 0, "delay": 0.5, "backoff": 0.2, "max_delay": 3, "initial_delay": 0}):
    sleeps, n = [], iter(range(100))
    poll(PollingOptions(**opts), lambda: (1, True) if next(n) >= 9 else (None, False), sleeps.append)
    out.append(sleeps)
print(json.dumps(out))
"""
    proc = subprocess.run([str(sdk_venv("0.28.5").python), "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    official = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = [schedule(cloud.PollingOptions(**NO_JITTER), 9)[0],
            schedule(cloud.PollingOptions(jitter=0, delay=0.5, backoff=0.2, max_delay=3, initial_delay=0), 9)[0]]
    assert ours == official  # same arithmetic, so exactly equal


def test_max_tries_max_duration_and_stop() -> None:
    with pytest.raises(RuntimeError, match="after 3 tries"):
        schedule(cloud.PollingOptions(max_tries=3, **NO_JITTER), fail_times=10)
    with pytest.raises(TimeoutError):
        schedule(cloud.PollingOptions(max_duration=0, **NO_JITTER), fail_times=10)
    stops = iter([False, False, True])
    sleeps, result = schedule(cloud.PollingOptions(stop=lambda: next(stops), **NO_JITTER), fail_times=10)
    assert result is None and len(sleeps) == 3  # initial delay + two failed tries


def test_a_short_run_returns_without_sleeping(deployed: Deployed) -> None:
    app = deployed.app
    app.new_run_with_result(input={"warm": True}, instance_id=deployed.instance.id)  # the env is built once
    started = time.monotonic()
    result = app.new_run_with_result(input={"x": 1}, instance_id=deployed.instance.id, run_options={"sleep": 0.05})
    elapsed = time.monotonic() - started
    print(f"\nnew_run_with_result of a ~50 ms run took {elapsed * 1000:.0f} ms (nextmv 0.28.5 sleeps ≥ 1000 ms first)")
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded
    assert elapsed < 1.0


def test_long_poll_respects_max_duration(deployed: Deployed) -> None:
    run_id = deployed.app.new_run(input={"x": 1}, instance_id=deployed.instance.id, options={"sleep": 30})
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        deployed.app.run_result_with_polling(run_id, polling_options=cloud.PollingOptions(max_duration=1))
    assert 0.9 <= time.monotonic() - started < 5
    deployed.app.cancel_run(run_id)


def test_stop_ends_a_long_poll(deployed: Deployed) -> None:
    run_id = deployed.app.new_run(input={"x": 1}, instance_id=deployed.instance.id, options={"sleep": 30})
    deadline = time.monotonic() + 1
    started = time.monotonic()
    result = deployed.app.run_result_with_polling(
        run_id, polling_options=cloud.PollingOptions(stop=lambda: time.monotonic() > deadline))
    assert result is None and time.monotonic() - started < 5
    deployed.app.cancel_run(run_id)


def test_falls_back_to_documented_polling_when_wait_is_ignored() -> None:
    """An older server answers ``?wait=`` at once with a running run: the SDK then polls as documented."""
    answers = iter(["running", "running", "running", "succeeded"])
    with recording_server() as rec:
        rec.answer_with("GET", r"/v1/applications/[^/]+/runs/[^/]+/metadata", lambda r, q: (200, run_info(next(answers))))
        rec.answer_with("GET", r"/v1/applications/[^/]+/runs/[^/]+$",
                        lambda rec, req: (200, {**run_info("running" if "wait" in req.query else "succeeded"), "output": None}))
        client = cloud.Client(api_key="k", url=rec.url)
        options = cloud.PollingOptions(initial_delay=0.05, delay=0.01, backoff=0.01, jitter=0)
        result = cloud.Application(client=client, id="wire-app").run_result_with_polling("run-1", options)
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded
    calls = [(r.path.rsplit("/", 1)[-1], bool(r.query.get("wait"))) for r in rec.requests]
    # No event stream there (a 404): then the long-poll of the result came back at once, still running,
    # so polled as documented from then on.
    streams = [c for c in calls if c[0] == "events"]
    assert streams and calls[: len(streams)] == streams
    assert calls[len(streams):] == [("run-1", True), *[("metadata", False)] * 4, ("run-1", False)]


def test_with_result_waits_on_the_run_event_stream(deployed: Deployed) -> None:
    """Where the server offers it, ``*_with_result`` learns the end from the run's event stream, whose end
    brings the result: no metadata polls, no long-polls, no second request."""
    app = deployed.app
    app.new_run_with_result(input={"warm": True}, instance_id=deployed.instance.id)  # the env is built once
    seen: list[tuple[str, str]] = []
    app.client.http.event_hooks["request"].append(lambda req: seen.append((req.url.path.rsplit("/", 1)[-1], req.url.query.decode())))
    result = app.new_run_with_result(input={"x": 1}, instance_id=deployed.instance.id, run_options={"sleep": 0.5})
    assert result.metadata.status_v2 == cloud.StatusV2.succeeded and result.output["solution"] == {"x": 1}
    run_id = result.id
    # after the POST: the stream (status changes only, the result with the end), nothing else
    assert seen[1:] == [("events", "logs=false&result=true")], seen
    assert seen[0][0] == "runs" and app.client.event_streams
    with_logs = [e.event for e in app.run_events(run_id)]
    assert with_logs.count("log") == 3 and with_logs[-1] == "end"  # the app's three stderr lines
    quiet = [e.event for e in stream_events(app.client, f"{app.endpoint}/runs/{run_id}/events", params={"logs": "false"},
                                            until="end")]
    assert "log" not in quiet and quiet[-1] == "end" and quiet.count("status") == 3


def test_a_server_without_streams_is_remembered() -> None:
    """A stream route the server does not have (405 without a Runyard error body): the client long-polls from then on."""
    with recording_server() as rec:
        rec.answer_with("GET", r"/v1/applications/[^/]+/runs/[^/]+/events", lambda r, q: (405, "no such route"))
        rec.answer_with("GET", r"/v1/applications/[^/]+/runs/[^/]+$", lambda rec, req: (200, {**run_info("succeeded"), "output": {}}))
        client = cloud.Client(api_key="k", url=rec.url)
        app = cloud.Application(client=client, id="wire-app")
        app.run_result_with_polling("run-1")
        app.run_result_with_polling("run-2")
    paths = [r.path.rsplit("/", 1)[-1] for r in rec.requests]
    assert paths == ["events", "run-1", "run-2"] and client.event_streams is False

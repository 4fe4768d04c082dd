"""``GET …/runs/{id}?wait=<seconds>``: the result itself, answered the moment the run ends (a Runyard
extension that lets a client get a result in one request instead of polling the metadata first)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import requests

from .apps import steps
from .conftest import new_tool_app, result, submit

BIG = 6 * 1024 * 1024  # over the 5 MiB a long-polled result carries inline


def long_poll(api: Any, app: str, run_id: str, wait: float) -> requests.Response:
    return api.get(f"/v1/applications/{app}/runs/{run_id}", params={"wait": wait})


def test_the_answer_comes_when_the_run_ends_with_the_output(gates, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "lp")
    gate = gates / "gate"
    run_id = submit(api, app, steps({"wait_file": str(gate)}, {"log": "done"}))
    answers: list[tuple[float, Any]] = []
    started = time.monotonic()
    waiter = threading.Thread(target=lambda: answers.append((time.monotonic(), long_poll(api, app, run_id, 30))))
    waiter.start()
    time.sleep(1.0)
    assert not answers, "answered while the run was still waiting for its gate"
    opened = time.monotonic()
    gate.touch()
    waiter.join(60)
    (answered, response), = answers
    assert response.status_code == 200, response.text
    assert "runyard-output" not in response.headers
    body = response.json()
    assert body["metadata"]["status_v2"] == "succeeded"
    assert answered - opened < 10 and answered - started < 30
    assert isinstance(body["output"]["solution"]["pid"], int)
    assert body == result(api, app, run_id), "the same answer as the plain result"


def test_at_the_timeout_the_run_comes_as_it_is(gates, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "lp")
    gate = gates / "gate"
    run_id = submit(api, app, steps({"wait_file": str(gate)}))
    started = time.monotonic()
    response = long_poll(api, app, run_id, 0.5)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metadata"]["status_v2"] in ("queued", "running") and body["output"] is None
    assert 0.4 <= took < 10
    gate.touch()
    assert long_poll(api, app, run_id, 30).json()["metadata"]["status_v2"] == "succeeded"


def test_an_unknown_run_or_app_is_a_404(start_server) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    new_tool_app(api, "lp")
    started = time.monotonic()
    missing_run = long_poll(api, "lp", "run-nope", 30)
    assert missing_run.status_code == 404 and "run-nope" in missing_run.text
    missing_app = long_poll(api, "nope", "run-nope", 30)
    assert missing_app.status_code == 404 and "nope" in missing_app.text
    assert time.monotonic() - started < 10, "a 404 does not wait"


def test_a_large_output_comes_as_a_download_url(start_server) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "lp")
    run_id = submit(api, app, steps({"pad": BIG}))
    response = long_poll(api, app, run_id, 60)
    assert response.status_code == 200, response.text
    assert response.headers["runyard-output"] == "url"
    body = response.json()
    assert body["metadata"]["status_v2"] == "succeeded" and body["metadata"]["output_size"] > BIG
    download = api.get(body["output"]["url"])
    assert download.status_code == 200
    assert len(download.json()["solution"]["pad"]) == BIG
    # Without ``wait`` the documented answer is unchanged: the output inline, however large.
    plain = api.get(f"/v1/applications/{app}/runs/{run_id}")
    assert "runyard-output" not in plain.headers and len(plain.json()["output"]["solution"]["pad"]) == BIG


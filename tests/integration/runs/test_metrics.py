"""Prometheus ``/metrics``: guarded by a token or an admin key, read with prometheus-client's own parser,
its values moving as runs queue, run and end."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integration.conftest import Api
from runyard.services import metrics as metrics_module

from .apps import steps
from .conftest import new_tool_app, submit, wait_for, wait_status

TOKEN = "scrape-token-for-tests"


def scrape(api: Api, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_token_or_an_admin_key(start_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RUNYARD_METRICS_TOKEN", TOKEN)
    api = start_server()
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    viewer = api.post("/v1/admin/accounts/default/keys", json={"role": "viewer", "name": "v"}).json()["key"]
    assert api.client.get("/metrics", headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    assert api.get("/metrics").status_code == 200  # the admin key
    assert "runyard_runs" in api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text


def test_metrics_move_when_runs_run(start_server, gates, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RUNYARD_METRICS_TOKEN", TOKEN)
    monkeypatch.setattr(metrics_module, "SNAPSHOT_SECONDS", 0.0)  # every scrape reads the database afresh
    api = start_server(concurrency=1)
    app = new_tool_app(api, "metered")
    before = scrape(api)
    assert value(before, "runyard_runs", status="succeeded", execution_class="c1") == 0
    assert value(before, "runyard_queue_depth", execution_class="c1") == 0

    gate = gates / "open"
    holding = submit(api, app, steps({"log": "waiting"}, {"wait_file": str(gate)}))
    wait_status(api, app, holding, {"running"})
    queued = submit(api, app, steps({"log": "second"}))
    during = scrape(api)
    assert value(during, "runyard_queue_depth", execution_class="c1") == 1
    assert value(during, "runyard_runs", status="running", execution_class="c1") == 1
    assert value(during, "runyard_runs", status="queued", execution_class="c1") == 1
    assert value(during, "runyard_queue_oldest_wait_seconds", execution_class="c1") >= 0

    gate.touch()
    for run_id in (holding, queued):
        assert wait_status(api, app, run_id)["status_v2"] == "succeeded"

    def settled() -> dict[Any, float] | None:
        after = scrape(api)
        return after if value(after, "runyard_run_duration_seconds_count", execution_class="c1", status="succeeded") == 2 else None

    after = wait_for(settled, timeout=30, what="both runs in the duration histogram")
    assert value(after, "runyard_runs", status="succeeded", execution_class="c1") == 2
    assert value(after, "runyard_queue_depth", execution_class="c1") == 0
    assert value(after, "runyard_queue_wait_seconds_count", execution_class="c1") == 2
    assert value(after, "runyard_run_duration_seconds_sum", execution_class="c1", status="succeeded") > 0
    assert value(after, "runyard_http_request_duration_seconds_count", method="POST",
                 route="/v1/applications/{app_id}/runs", status="200") == 2
    assert value(after, "runyard_blob_bytes", kind="run_inputs") > value(before, "runyard_blob_bytes", kind="run_inputs")
    assert value(after, "runyard_blob_bytes", kind="bundles") > 0
    assert ("runyard_environment_builds_total", (("outcome", "succeeded"),)) in after


def test_other_modules_register_their_own_series(start_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RUNYARD_METRICS_TOKEN", TOKEN)
    api = start_server()
    registry = api.client.app.state.platform.metrics
    jobs = registry.counter("runyard_example_jobs_total", "Jobs of a module of its own, by outcome.", ("outcome",))
    assert registry.counter("runyard_example_jobs_total", "same", ("outcome",)) is jobs
    jobs.labels("done").inc(3)
    assert value(scrape(api), "runyard_example_jobs_total", outcome="done") == 3

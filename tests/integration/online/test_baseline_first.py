"""Mirroring never delays production: the baseline runs' queue wait, measured with and without a shadow test.

Production submits bursts that fill its class's capacity exactly, one burst after the other ended.
Each baseline run is mirrored to two candidates that take as long as it does. With a class of their own
for candidates (``execution.shadow_class``, by default), the baseline runs wait no longer than with no
test at all; in the baseline's own class (``shadow_class`` naming it) the measurement sees running
candidates hold production slots, which shows it can tell the difference.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from integration.conftest import ADMIN_KEY, Api
from integration.experiments.conftest import Lab, ok
from runyard.server.app import create_app
from runyard.settings import Settings

BURSTS, SLOTS, SECONDS = 4, 2, 0.5


@pytest.fixture
def server(database_url: str, tmp_path: Path, experiments_env_dir: Path) -> Callable[..., Any]:
    """``server(shadow_class)``: a context manager serving one measurement (one server at a time: they
    share the database, and a second one's dispatcher would take runs too)."""

    @contextmanager
    def start(shadow_class: str | None) -> Iterator[Api]:
        classes = {"prod": {"concurrency": SLOTS, "max_duration_seconds": 120},
                   "shadow": {"concurrency": 2 * SLOTS, "max_duration_seconds": 120}}
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY, executor="embedded",
                            execution={"env_dir": experiments_env_dir, "classes": classes, "default_class": "prod",
                                       "shadow_class": shadow_class, "poll_interval_seconds": 0.02, "kill_grace_seconds": 0.3})
        with TestClient(create_app(settings)) as client:
            yield Api(client)

    return start


def queue_waits(lab: Lab, base: str) -> list[float]:
    """Seconds each baseline run waited between submission and start."""
    waits = []
    for burst in range(BURSTS):
        ids = [lab.submit({"x": float(burst), "sleep": SECONDS}, base) for _ in range(SLOTS)]
        for run_id in ids:
            meta = lab.wait_run(run_id)
            assert meta["status_v2"] == "succeeded", meta["error"]
            waits.append((datetime.fromisoformat(meta["initiated_at"]) - datetime.fromisoformat(meta["created_at"])).total_seconds())
    return waits


def measure(start: Callable[..., Any], name: str, *, shadow: bool, shadow_class: str | None) -> list[float]:
    with start(shadow_class) as api:
        return _measure(Lab(api, app_id=name), shadow=shadow)


def _measure(lab: Lab, *, shadow: bool) -> list[float]:
    base = lab.instance("base")
    lab.submit({"x": 0.0}, base)  # warm: the environment is built once
    lab.wait_run(ok(lab.api.get(f"{lab.base}/runs"))["runs"][0]["id"])
    if shadow:
        cands = [lab.instance("c1", offset="1"), lab.instance("c2", offset="2")]
        body = {"id": "sh", "comparisons": {base: cands}, "termination_events": {"maximum_runs": 300}}
        ok(lab.api.post(f"{lab.base}/experiments/shadow", json=body))
        ok(lab.api.put(f"{lab.base}/experiments/shadow/sh/start"), 204)
    waits = queue_waits(lab, base)
    if shadow:
        runs = ok(lab.api.get(f"{lab.base}/experiments/shadow/sh/runs"))["runs"]
        assert sum(r["arm"] == "candidate" for r in runs) == 2 * BURSTS * SLOTS
    return waits


def test_a_shadow_test_does_not_lengthen_the_baseline_queue_wait(server: Callable[..., Any]) -> None:
    without = measure(server, "plain", shadow=False, shadow_class="shadow")
    with_test = measure(server, "mirrored", shadow=True, shadow_class="shadow")
    shared = measure(server, "shared", shadow=True, shadow_class="prod")
    print(f"\nbaseline queue wait, mean/max s: no test {statistics.fmean(without):.3f}/{max(without):.3f}; "
          f"shadow test (own class) {statistics.fmean(with_test):.3f}/{max(with_test):.3f}; "
          f"shadow test (shared class) {statistics.fmean(shared):.3f}/{max(shared):.3f}")
    noise = 0.25  # dispatch latency on a loaded machine; a candidate holding a slot costs ~SECONDS
    assert max(with_test) <= max(without) + noise
    assert statistics.fmean(with_test) <= statistics.fmean(without) + noise / 2
    assert max(shared) > max(without) + SECONDS / 2  # the measurement sees a slot held by a candidate

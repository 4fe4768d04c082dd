"""Big experiments: interactive runs are not starved by them, and what a batch saves over one by one."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from .conftest import Lab, ok

pytestmark = pytest.mark.slow


def started(meta: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(meta["initiated_at"].replace("Z", "+00:00"))


def test_a_300_run_experiment_does_not_starve_interactive_runs(start_server) -> None:
    concurrency = 2
    lab = Lab(start_server(concurrency=concurrency))
    base = lab.instance("base")
    lab.wait_run(lab.submit({"x": 0}, base))  # the app environment is built before the clock matters
    source = lab.managed_input("one", {"x": 1})
    t0 = time.monotonic()
    lab.batch("big", runs=[{"input_id": source, "instance_id": base}] * 300)
    created = time.monotonic() - t0
    interactive = lab.submit({"x": 2}, base)
    meta = lab.wait_run(interactive)
    assert meta["status_v2"] == "succeeded"

    mine = started(meta)
    metas = [lab.metadata(x["id"]) for x in lab.experiment_runs("big")]
    before = sum(1 for m in metas if "initiated_at" in m and started(m) < mine)
    print(f"\n300-run experiment created in {created:.2f}s; {before} experiment runs started before the interactive "
          f"one, {sum(1 for m in metas if m['status_v2'] == 'queued')} were still queued when it had finished")
    # When the interactive run was queued at most `concurrency` experiment runs held the slots, and
    # the next slot to free up is its: allow one more dispatch round of slack for timing.
    assert before <= 3 * concurrency, before
    assert len(metas) - before >= 300 - 3 * concurrency  # the rest start after it (or have not yet)

    t0 = time.monotonic()
    ok(lab.api.delete(f"{lab.base}/experiments/batch/big"), 204)  # stops the rest
    print(f"deleting it (runs still queued and running) took {time.monotonic() - t0:.2f}s")
    assert interactive in {r["id"] for r in ok(lab.api.get(f"{lab.base}/runs"))["runs"]}
    assert lab.api.get(f"{lab.base}/experiments/batch/big").status_code == 404


def test_timing_batch_vs_one_by_one(start_server) -> None:
    """Printed, not asserted: 100 runs as one batch experiment vs submitted and waited for one at a time."""
    n = 100
    lab = Lab(start_server(concurrency=2))
    base = lab.instance("base")
    lab.wait_run(lab.submit({"x": 0}, base))  # warm: the app environment exists before timing
    source = lab.managed_input("one", {"x": 1})

    t0 = time.monotonic()
    lab.batch("timed", runs=[{"input_id": source, "instance_id": base}] * n)
    exp = lab.wait_experiment("timed", timeout=600)
    batch_seconds = time.monotonic() - t0
    assert exp["number_of_succeeded_runs"] == n

    t0 = time.monotonic()
    for _ in range(n):
        run_id = ok(lab.api.post(f"{lab.base}/runs", params={"instance_id": base}, json={"input_id": source}))["run_id"]
        assert lab.wait_run(run_id, interval=0.005)["status_v2"] == "succeeded"
    single_seconds = time.monotonic() - t0
    print(f"\n{n} runs, concurrency 2: batch experiment {batch_seconds:.2f}s ({batch_seconds / n * 1000:.0f} ms/run); "
          f"one by one with tight polling {single_seconds:.2f}s ({single_seconds / n * 1000:.0f} ms/run); "
          f"ratio {single_seconds / batch_seconds:.2f}")

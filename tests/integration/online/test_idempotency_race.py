"""One submission path for every run: requests sent at once with the same Idempotency-Key to a baseline
instance under a started shadow test (and to one under a switchback test) make one run and one set of
mirrors, and every request answers the same id. A real server on loopback, real concurrent requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from integration.conftest import ADMIN_KEY, Api
from integration.experiments.conftest import Lab, ok, wait_for
from runyard.testing.servers import embedded_settings, serve_in_thread

CLIENTS = 8
ROUNDS = 4


@pytest.fixture
def live_lab(database_url: str, tmp_path: Path, experiments_env_dir: Path) -> Iterator[Lab]:
    settings = embedded_settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY,
                                 env_dir=experiments_env_dir, concurrency=2)
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield Lab(Api(client))  # type: ignore[arg-type]


def _at_once(lab: Lab, instance_id: str, key: str, x: float) -> list[tuple[int, Any]]:
    """CLIENTS requests released together by a barrier, each on its own connection."""
    barrier = threading.Barrier(CLIENTS)

    def post(_: int) -> tuple[int, Any]:
        with httpx.Client(base_url=str(lab.api.client.base_url), timeout=120) as own:
            barrier.wait()
            response = own.post(f"{lab.base}/runs", params={"instance_id": instance_id}, json={"input": {"x": x}},
                                headers={**lab.api.headers, "Idempotency-Key": key})
        return response.status_code, response.json() if response.status_code == 200 else response.text

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, range(CLIENTS)))


def test_one_key_sent_at_once_makes_one_run_and_one_mirror(live_lab: Lab) -> None:
    lab = live_lab
    base, cand = lab.instance("base"), lab.instance("cand", offset="1")
    ok(lab.api.post(f"{lab.base}/experiments/shadow", json={
        "id": "race", "name": "race", "comparisons": {base: [cand]}, "termination_events": {"maximum_runs": 50}}))
    ok(lab.api.put(f"{lab.base}/experiments/shadow/race/start"), 204)
    answered = []
    for n in range(ROUNDS):
        results = _at_once(lab, base, f"same-{n}", float(n))
        assert [status for status, _ in results] == [200] * CLIENTS, results
        ids = {body["run_id"] for _, body in results}
        assert len(ids) == 1, results  # every request answers the one run
        answered.append(ids.pop())
    for run_id in answered:
        assert lab.wait_run(run_id)["status_v2"] == "succeeded"

    def arms() -> dict[str, list[dict[str, Any]]] | None:
        runs = ok(lab.api.get(f"{lab.base}/experiments/shadow/race/runs"))["runs"]
        out = {arm: [r for r in runs if r["arm"] == arm] for arm in ("baseline", "candidate")}
        return out if len(out["candidate"]) >= ROUNDS else None

    found = wait_for(arms, what="the mirrors")
    assert sorted(r["id"] for r in found["baseline"]) == sorted(answered)
    assert sorted(r["baseline_run_id"] for r in found["candidate"]) == sorted(answered)  # one mirror each
    everything = ok(lab.api.get(f"{lab.base}/runs"))["runs"]
    assert len(everything) == 2 * ROUNDS


def test_one_key_sent_at_once_to_a_switchback_baseline_makes_one_routed_run(live_lab: Lab) -> None:
    lab = live_lab
    base, cand = lab.instance("base"), lab.instance("cand", offset="1")
    ok(lab.api.post(f"{lab.base}/experiments/switchback", json={
        "id": "sw", "name": "sw", "comparison": {"baseline_instance_id": base, "candidate_instance_id": cand},
        "generate_random_plan": {"units": 2, "unit_duration_minutes": 60}}))
    ok(lab.api.put(f"{lab.base}/experiments/switchback/sw/start"), 204)
    results = _at_once(lab, base, "switch", 1.0)
    assert [status for status, _ in results] == [200] * CLIENTS, results
    (run_id,) = {body["run_id"] for _, body in results}
    meta = lab.wait_run(run_id)
    assert meta["experiment_type"] == "switchback" and meta["routing"]["switchback_test_id"] == "sw"
    runs = ok(lab.api.get(f"{lab.base}/experiments/switchback/sw/runs"))["runs"]
    assert [r["id"] for r in runs] == [run_id]

"""A run the executor refuses to take (its cluster unreachable, say) ends failed with the reason, instead of
staying ``running`` with no process anywhere; the next run goes through once the executor takes runs again."""

from __future__ import annotations

import time
from typing import Any

from integration.conftest import Api


def _wait_ended(api: Api, app: str, run_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        meta = api.get(f"/v1/applications/{app}/runs/{run_id}/metadata").json()["metadata"]
        if meta["status_v2"] not in ("queued", "running"):
            return meta
        assert time.monotonic() < deadline, f"run {run_id} is still {meta['status_v2']}"
        time.sleep(0.05)


def test_a_run_the_executor_refuses_fails_naming_why_and_the_next_one_runs(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("refused")
    executor = client.app.state.runtime.dispatcher._executor
    take = executor.submit
    refusals: list[str] = []

    def refuse(task: Any) -> None:
        refusals.append(task.run_id)
        raise ConnectionError("the cluster's client port did not answer\nmore detail")

    executor.submit = refuse
    try:
        refused = api.post("/v1/applications/refused/runs", json={"input": {"x": 1}}).json()["run_id"]
        meta = _wait_ended(api, "refused", refused)
    finally:
        executor.submit = take
    assert refusals == [refused]
    assert meta["status_v2"] == "failed"
    assert meta["error"] == "the executor did not take the run: ConnectionError: the cluster's client port did not answer"
    assert executor.running() == []

    ok = api.post("/v1/applications/refused/runs", json={"input": {"x": 2}}).json()["run_id"]
    assert _wait_ended(api, "refused", ok)["status_v2"] == "succeeded"
    assert api.get(f"/v1/applications/refused/runs/{ok}").json()["output"] == {"x": 2}

"""Record (not assert) how long an echo run takes to reach a terminal status, seen from each SDK.

Writes ``.cache/compat/timings.json``: per backend and SDK, seconds from ``new_run`` to a terminal
status with the SDK's own polling (``new_run_with_result``, default ``PollingOptions``) and with a
tight ``run_metadata`` loop every 20 ms.
"""

from __future__ import annotations

import json
import statistics
import time

import pytest

from .harness import CACHE, file_lock, unique

pytestmark = [pytest.mark.compat, pytest.mark.slow]

REPEAT = 3
TIMINGS = CACHE / "timings.json"


def test_record_time_to_terminal_status(sdk, server, app_dir):
    out = sdk.run(
        """
        app, _, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        repeat = int(os.environ["REPEAT"])

        def tight(data):
            start = time.perf_counter()
            run_id = app.new_run(input=data, instance_id=instance_id)
            info = wait_terminal(app, run_id, interval=0.02)
            return time.perf_counter() - start, info.metadata.status_v2.value

        def sdk_polling(data):
            start = time.perf_counter()
            result = app.new_run_with_result(input=data, instance_id=instance_id)
            return time.perf_counter() - start, result.metadata.status_v2.value

        first = tight({"n": 0})  # the version's first run may build its environment
        tight_runs = [tight({"n": n}) for n in range(repeat)]
        sdk_runs = [sdk_polling({"n": n}) for n in range(repeat)]
        emit({"first_run_tight": first, "tight": tight_runs, "sdk_polling": sdk_runs})
        """,
        env={"APP_ID": unique("timing"), "APP_DIR": str(app_dir("echo-json")), "REPEAT": str(REPEAT)},
    )
    statuses = {status for _, status in [out["first_run_tight"], *out["tight"], *out["sdk_polling"]]}
    assert statuses == {"succeeded"}, out

    def summary(runs: list[list]) -> dict:
        seconds = [round(s, 3) for s, _ in runs]
        return {"seconds": seconds, "median": round(statistics.median(seconds), 3)}

    record = {
        "first_run_tight_polling_s": round(out["first_run_tight"][0], 3),
        "tight_polling_20ms": summary(out["tight"]),
        "sdk_new_run_with_result": summary(out["sdk_polling"]),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with file_lock(TIMINGS.with_suffix(".lock")):
        data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
        data.setdefault(server.backend, {})[f"nextmv-{sdk.version}"] = record
        TIMINGS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\n[timings] {server.backend} nextmv {sdk.version}: {json.dumps(record)}")

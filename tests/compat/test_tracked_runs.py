"""Tracked (external) runs through both SDK generations: ``track_run`` and ``track_run_with_result``,
succeeded and failed; in 1.13.0 also the statistics, metrics and assets uploads.

Nothing executes here, so no app is pushed: an application is all a tracked run needs.
"""

from __future__ import annotations

import json

import pytest

from .harness import unique

pytestmark = pytest.mark.compat

INPUT = {"orders": [1, 2, 3]}
OUTPUT = {"solution": {"assigned": [3, 2, 1]}, "statistics": {"result": {"value": 6.5}}}

# Fast polling for ``track_run_with_result`` (the default waits a second before the first poll).
FAST = """
try:
    from nextmv import PollingOptions, TrackedRun, TrackedRunStatus  # 1.x
except ImportError:
    from nextmv.cloud import PollingOptions, TrackedRun, TrackedRunStatus
FAST = PollingOptions(initial_delay=0.05, delay=0.05, backoff=0.0, jitter=0.0, max_delay=0.25)
"""


def test_tracked_runs_succeeded_and_failed(sdk):
    """Logs (a list of lines, which the SDKs join with a literal backslash-n), duration, error message and
    ``error_log``; the tracked input and output read back like any run's."""
    out = sdk.run(
        FAST
        + """
app = Application.new(client=client, name=os.environ["APP_ID"], id=os.environ["APP_ID"])
ok_id = app.track_run(TrackedRun(input=json.loads(os.environ["INPUT"]), output=json.loads(os.environ["OUTPUT"]),
                                 status=TrackedRunStatus.SUCCEEDED, duration=1234,
                                 logs=["solver started", "solver done"]))
failed = app.track_run_with_result(
    TrackedRun(input={"bad": True}, output={"solution": None}, status=TrackedRunStatus.FAILED,
               duration=50, error="infeasible model", logs=["reading", "infeasible!"]),
    polling_options=FAST,
)
ok = app.run_result(ok_id)
raw = client.request(method="GET", endpoint=f"{app.endpoint}/runs/{ok_id}/metadata").json()
emit({
    "ok": {"id": ok_id, "metadata": ok.metadata.to_dict(), "output": ok.output, "input": app.run_input(ok_id),
           "logs": app.run_logs(ok_id).log, "metrics": raw["metadata"].get("metrics")},
    "failed": {"metadata": failed.metadata.to_dict(), "output": failed.output,
               "error_log": failed.error_log.to_dict() if failed.error_log else None,
               "logs": app.run_logs(failed.id).log},
})
""",
        env={"APP_ID": unique("app"), "INPUT": json.dumps(INPUT), "OUTPUT": json.dumps(OUTPUT)},
    )
    ok, failed = out["ok"], out["failed"]
    assert ok["metadata"]["status_v2"] == "succeeded"
    assert ok["metadata"]["duration"] == 1234
    assert ok["metadata"]["error"] == ""
    assert ok["output"] == OUTPUT
    assert ok["input"] == INPUT
    assert ok["logs"] == "solver started\nsolver done"
    assert ok["metrics"] == {"result.value": 6.5}  # the statistics of the tracked output, as comparable metrics

    meta = failed["metadata"]
    assert meta["status_v2"] == "failed"
    assert meta["error"] == "infeasible model"
    assert meta["duration"] == 50
    if sdk.version == "0.28.5":
        assert ok["metadata"]["status"] == "succeeded" and meta["status"] == "failed"
    assert failed["output"] == {"solution": None}
    assert failed["logs"] == "reading\ninfeasible!"
    assert failed["error_log"] == {"error": "infeasible model", "stdout": "", "stderr": "reading\ninfeasible!"}


def test_tracked_run_statistics_metrics_and_assets(sdk113):
    """1.13.0 uploads statistics, metrics and assets separately; they show in ``run_metadata``,
    ``run_result`` and ``list_assets`` (with their content downloadable)."""
    out = sdk113.run(
        FAST
        + """
from nextmv import Asset, Visual, VisualSchema

app = Application.new(client=client, name=os.environ["APP_ID"], id=os.environ["APP_ID"])
chart = {"type": "bar", "data": {"labels": ["a", "b"], "datasets": [{"data": [1, 2]}]}}
tracked = TrackedRun(
    input={"x": 1}, output={"solution": {"y": 2}}, status=TrackedRunStatus.SUCCEEDED, duration=321,
    logs="one line of log", name="tracked", description="from elsewhere",
    statistics={"result": {"value": 42.0}, "run": {"iterations": 7}},
    metrics={"cost": 12.5, "vehicles": {"used": 3}},
    assets=[Asset(name="bars", content=[chart], description="a chart",
                  visual=Visual(visual_schema=VisualSchema.CHARTJS, label="Bars"))],
)
result = app.track_run_with_result(tracked, polling_options=FAST)
info = app.run_metadata(result.id)
assets = app.list_assets(result.id)
emit({
    "result": {"name": result.name, "description": result.description, "output": result.output,
               "metadata": result.metadata.to_dict()},
    "info": info.metadata.to_dict(),
    "logs": app.run_logs(result.id).log,
    "assets": [a.to_dict() for a in assets],
    "content": [app.download_asset_content(a) for a in assets],
    "chart": chart,
})
""",
        env={"APP_ID": unique("app")},
    )
    result, info = out["result"], out["info"]
    assert (result["name"], result["description"]) == ("tracked", "from elsewhere")
    assert result["output"] == {"solution": {"y": 2}}
    for meta in (result["metadata"], info):
        assert meta["status_v2"] == "succeeded"
        assert meta["duration"] == 321
        assert "statistics" not in meta  # the deprecated statistics object would break 1.13.0's compare_runs
        assert meta["metrics"] == {"cost": 12.5, "vehicles.used": 3}
    assert out["logs"] == "one line of log"
    (asset,) = out["assets"]
    assert (asset["name"], asset["content_type"]) == ("bars", "json")
    assert asset["visual"]["schema"] == "chartjs" and asset["visual"]["label"] == "Bars"
    assert asset["size"] > 0 and asset["id"] and asset["created_at"]
    assert out["content"] == [[out["chart"]]]

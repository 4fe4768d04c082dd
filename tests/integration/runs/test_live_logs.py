"""Live logs (R11) while the app is still running, then to the end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .apps import steps
from .conftest import new_tool_app, submit, wait_for


def test_live_logs_follow_a_running_app(gates, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "live")
    gate = gates / "gate"
    run_id = submit(api, app, steps({"log": "first line"}, {"log": "second line"}, {"wait_file": str(gate)},
                                    {"log": "third line"}))
    url = f"/v1/applications/{app}/runs/{run_id}/logs/live"

    def live(since: str | None = None) -> dict:
        response = api.get(url, params={"since": since} if since else None)
        assert response.status_code == 200, response.text
        return response.json()

    first = wait_for(lambda: (page := live()) and "second line" in [i["log"] for i in page["items"]] and page,
                     timeout=120, what="the first lines in the live log")
    assert first["status_v2"] == "running"
    assert first["next_available_in_seconds"] > 0
    assert first["next_page_token"]
    lines = [item["log"] for item in first["items"]]
    assert lines.index("first line") < lines.index("second line") and "third line" not in lines
    for item in first["items"]:
        assert datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00")).tzinfo is not None

    # Nothing new yet: the same token gives no lines again.
    again = live(first["next_page_token"])
    assert again["items"] == [] and again["status_v2"] == "running"

    gate.touch()
    token = first["next_page_token"]
    seen: list[str] = []

    def finished() -> bool:
        nonlocal token
        page = live(token)
        seen.extend(item["log"] for item in page["items"])
        token = page["next_page_token"]
        return page["status_v2"] == "succeeded"

    wait_for(finished, timeout=60, what="the run to succeed through live logs")
    assert "third line" in seen
    assert "first line" not in seen and "second line" not in seen
    assert live(token)["items"] == []

"""Event pruning: the janitor removes outbox events already fanned out and webhook deliveries that ended,
past ``janitor.event_retention_seconds``; pending deliveries stay; a stream asked to resume from before
what was removed answers 410 saying what to do, and one resumed after it works as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from runyard.services import janitor
from runyard.storage.db import Event
from runyard.testing.receiver import Receiver

from .conftest import create_webhook, deliveries, submit, wait_until


def _events(platform) -> int:  # type: ignore[no-untyped-def]
    with platform.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def test_old_events_and_ended_deliveries_are_pruned_and_streams_say_so(start_server, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server()
    platform = client.app.state.platform
    api.new_app("old")
    create_webhook(api, receiver.url)
    create_webhook(api, "http://127.0.0.1:1/hook", id="down")  # refused: its deliveries stay pending
    runs = [submit(api, "old") for _ in range(3)]
    receiver.wait_for(9)
    wait_until(lambda: all(d["state"] == "succeeded" for d in deliveries(api)) and len(deliveries(api)) == 9,
               what="every delivery to be recorded")
    before = _events(platform)
    assert before >= 9
    assert janitor.sweep_all(platform).events == 0  # nothing is old enough yet

    later = datetime.now(UTC) + timedelta(seconds=platform.settings.janitor.event_retention_seconds + 60)
    done = janitor.sweep_all(platform, now=later)
    assert done.events == before - 1 and done.deliveries == 9
    assert _events(platform) == 1 and deliveries(api) == []  # the newest event stays: ids never restart
    pending = deliveries(api, "down")
    assert len(pending) == 9 and {d["state"] for d in pending} == {"pending"}  # not ended: kept

    gone = api.get("/v1/events", headers={"Last-Event-ID": "evt-1"})
    assert gone.status_code == 410 and "pruned" in gone.text and "without Last-Event-ID" in gone.text
    gone = api.get(f"/v1/applications/old/runs/{runs[0]}/events", headers={"Last-Event-ID": "1.0"})
    assert gone.status_code == 410 and "pruned" in gone.text

    # after the horizon, streams resume as before
    fresh = submit(api, "old")
    receiver.wait_for(12)
    with client.stream("GET", f"/v1/applications/old/runs/{fresh}/events", headers=api.headers) as resp:
        assert resp.status_code == 200
        ids = [line.removeprefix("id: ") for line in resp.iter_lines() if line.startswith("id: ")]
    assert len(ids) >= 4, ids  # queued, running, succeeded, end
    assert all(int(i.split(".")[0]) > before for i in ids), ids  # after every event removed
    with client.stream("GET", f"/v1/applications/old/runs/{fresh}/events",
                       headers={**api.headers, "Last-Event-ID": ids[0]}) as resp:
        assert resp.status_code == 200
        resumed = [line.removeprefix("id: ") for line in resp.iter_lines() if line.startswith("id: ")]
    assert resumed == ids[1:]

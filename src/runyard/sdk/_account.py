"""``Account``: account-wide views (the run queue, every run, events)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from runyard.sdk._client import Client
from runyard.sdk._events import StreamEvent
from runyard.sdk._models_app import Queue
from runyard.sdk._models_runs import Run, StatusV2
from runyard.sdk._run_filters import iter_runs, run_query
from runyard.sdk._webhook_api import account_events


@dataclass
class Account:
    """The account the API key belongs to."""

    client: Client
    endpoint: str = "v1/account"

    def queue(self) -> Queue:
        """Runs waiting or executing, in the order they will be served."""
        return Queue.from_dict(self.client.request("GET", f"{self.endpoint}/queue").json())

    def list_runs(self, status: StatusV2 | Iterable[StatusV2] | None = None, *, application_id: str | None = None,
                  instance_id: str | None = None, version_id: str | None = None,
                  created_after: datetime | str | None = None, created_before: datetime | str | None = None,
                  limit: int | None = None) -> list[Run]:
        """Runs of every application of the account, newest first (Runyard's ``v1/runs``), filtered
        as ``Application.list_runs``; ``instance_id`` and ``version_id`` need ``application_id``."""
        query = run_query(status=status, instance_id=instance_id, version_id=version_id, created_after=created_after,
                          created_before=created_before, application_id=application_id)
        return [Run.from_dict(r) for r in iter_runs(self.client, "v1/runs", query, limit)]

    def events(self, *, application_id: str | None = None, event_types: list[str] | None = None,
               last_event_id: str | None = None) -> Iterator[StreamEvent]:
        """The account's events as they happen (Runyard's ``v1/events`` stream), resumed without a gap
        after a dropped connection."""
        return account_events(self.client, application_id=application_id, event_types=event_types,
                              last_event_id=last_event_id)

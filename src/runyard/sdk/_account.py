"""``Account``: account-wide views (the run queue)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from runyard.sdk._client import Client
from runyard.sdk._events import StreamEvent
from runyard.sdk._models_app import Queue
from runyard.sdk._webhook_api import account_events


@dataclass
class Account:
    """The account the API key belongs to."""

    client: Client
    endpoint: str = "v1/account"

    def queue(self) -> Queue:
        """Runs waiting or executing, in the order they will be served."""
        return Queue.from_dict(self.client.request("GET", f"{self.endpoint}/queue").json())

    def events(self, *, application_id: str | None = None, event_types: list[str] | None = None,
               last_event_id: str | None = None) -> Iterator[StreamEvent]:
        """The account's events as they happen (Runyard's ``v1/events`` stream), resumed without a gap
        after a dropped connection."""
        return account_events(self.client, application_id=application_id, event_types=event_types,
                              last_event_id=last_event_id)

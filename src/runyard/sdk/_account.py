"""``Account``: account-wide views (the run queue)."""

from __future__ import annotations

from dataclasses import dataclass

from runyard.sdk._client import Client
from runyard.sdk._models_app import Queue


@dataclass
class Account:
    """The account the API key belongs to."""

    client: Client
    endpoint: str = "v1/account"

    def queue(self) -> Queue:
        """Runs waiting or executing, in the order they will be served."""
        return Queue.from_dict(self.client.request("GET", f"{self.endpoint}/queue").json())

"""``Webhooks``: the account's webhooks, their secrets and delivery logs; ``Account.events`` streams.

``v1/webhooks`` as Nextmv Cloud documents it, plus Runyard's filters, custom headers, secret
rotation, delivery log and redelivery.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runyard.sdk._base_model import BaseModel
from runyard.sdk._client import Client
from runyard.sdk._events import StreamEvent, stream_events


class Webhook(BaseModel):
    id: str
    endpoint_url: str
    description: str = ""
    event_types: list[str]
    filters: dict[str, list[str]] = {}
    headers: dict[str, str] = {}
    status: str = "enabled"
    disabled_reason: str = ""
    consecutive_failures: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


class WebhookAttempt(BaseModel):
    number: int
    started_at: datetime
    status_code: int | None = None
    latency_ms: float = 0.0
    response: str = ""
    error: str = ""


class WebhookDelivery(BaseModel):
    id: str
    event_id: str
    event_type: str
    subject: str = ""
    state: str
    attempt_count: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: list[WebhookAttempt] = []


@dataclass
class Webhooks:
    """The account's webhooks."""

    client: Client
    endpoint: str = "v1/webhooks"

    def create(self, endpoint_url: str, *, id: str | None = None, event_types: list[str] | None = None,
               description: str | None = None, filters: dict[str, list[str]] | None = None,
               headers: dict[str, str] | None = None) -> Webhook:
        body: dict[str, Any] = {"endpoint_url": endpoint_url, "event_types": event_types or ["run.status"]}
        for key, value in (("id", id), ("description", description), ("filters", filters), ("headers", headers)):
            if value is not None:
                body[key] = value
        return Webhook.from_dict(self.client.request("POST", self.endpoint, payload=body).json())

    def list(self) -> list[Webhook]:
        return [Webhook.from_dict(w) for w in self.client.request("GET", self.endpoint).json()["items"]]

    def get(self, webhook_id: str) -> Webhook:
        return Webhook.from_dict(self.client.request("GET", f"{self.endpoint}/{webhook_id}").json())

    def update(self, webhook_id: str, **changes: Any) -> Webhook:
        """Change ``endpoint_url``, ``description``, ``event_types``, ``filters``, ``headers`` or
        ``status`` (``"enabled"`` re-enables a webhook that was disabled)."""
        body = {k: v for k, v in changes.items() if v is not None}
        return Webhook.from_dict(self.client.request("PATCH", f"{self.endpoint}/{webhook_id}", payload=body).json())

    def delete(self, webhook_id: str) -> None:
        self.client.request("DELETE", f"{self.endpoint}/{webhook_id}")

    def secret(self, webhook_id: str) -> str:
        return self.client.request("GET", f"{self.endpoint}/{webhook_id}/secret").json()["secret"]

    def rotate_secret(self, webhook_id: str, overlap_seconds: float = 24 * 3600) -> str:
        """A new secret; the old one keeps signing beside it for ``overlap_seconds``."""
        path = f"{self.endpoint}/{webhook_id}/secret/rotate"
        return self.client.request("POST", path, payload={"overlap_seconds": overlap_seconds}).json()["secret"]

    def test(self, webhook_id: str) -> WebhookDelivery:
        """Send a sample ``run.status`` event (``"test": true``)."""
        return WebhookDelivery.from_dict(self.client.request("POST", f"{self.endpoint}/{webhook_id}/trigger").json())

    def deliveries(self, webhook_id: str) -> list[WebhookDelivery]:
        """The most recent deliveries, newest first, each with its attempts."""
        items = self.client.request("GET", f"{self.endpoint}/{webhook_id}/deliveries").json()["items"]
        return [WebhookDelivery.from_dict(d) for d in items]

    def redeliver(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        path = f"{self.endpoint}/{webhook_id}/deliveries/{delivery_id}/redeliver"
        return WebhookDelivery.from_dict(self.client.request("POST", path).json())


def account_events(client: Client, *, application_id: str | None = None, event_types: list[str] | None = None,
                   last_event_id: str | None = None) -> Iterator[StreamEvent]:
    """The account's events as they happen (from ``last_event_id`` if given, else from now), for ever."""
    params: dict[str, Any] = {}
    if application_id:
        params["application_id"] = application_id
    if event_types:
        params["event_type"] = event_types
    return stream_events(client, "v1/events", last_event_id=last_event_id, params=params)

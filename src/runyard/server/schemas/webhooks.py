"""Wire shapes of webhooks and their deliveries."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from runyard.server.schemas.requests import Body
from runyard.server.schemas.views import ts
from runyard.storage.db import Webhook, WebhookAttempt, WebhookDelivery


class WebhookCreate(Body):
    id: StrictStr | None = None
    endpoint_url: StrictStr
    description: StrictStr | None = None
    event_types: list[Any] = Field(default_factory=lambda: ["run.status"])
    filters: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None


class WebhookUpdate(Body):
    endpoint_url: StrictStr | None = None
    description: StrictStr | None = None
    event_types: list[Any] | None = None
    filters: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    status: StrictStr | None = None


class SecretRotate(Body):
    overlap_seconds: float = Field(24 * 3600.0, description="How long the old secret keeps signing beside the new one.")


def webhook_view(row: Webhook, *, reveal: bool = True) -> dict[str, Any]:
    """A webhook; custom header values (often credentials) are masked unless ``reveal``."""
    headers = dict(row.headers or {}) if reveal else {name: "********" for name in row.headers or {}}
    return {
        "id": row.id, "endpoint_url": row.endpoint_url, "description": row.description, "event_types": row.event_types,
        "filters": row.filters or {}, "headers": headers, "status": row.status,
        "disabled_reason": row.disabled_reason or "", "consecutive_failures": row.consecutive_failures,
        "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
    }


def attempt_view(a: WebhookAttempt) -> dict[str, Any]:
    return {"number": a.number, "started_at": ts(a.started_at), "status_code": a.status_code,
            "latency_ms": round(a.latency_ms, 2), "response": a.response_excerpt, "error": a.error}


def delivery_view(d: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": d.id, "event_id": f"evt-{d.event_id}", "event_type": d.event_type, "subject": d.subject, "state": d.state,
        "attempt_count": len(attempts), "next_attempt_at": ts(d.next_attempt_at) if d.state == "pending" else None,
        "last_status_code": d.last_status_code, "last_error": d.last_error, "created_at": ts(d.created_at),
        "finished_at": ts(d.finished_at), "attempts": [attempt_view(a) for a in attempts],
    }

"""Webhooks of an account: create, read, change, delete; their secret; the delivery log and redelivery."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.domain import webhooks as wh
from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import is_valid_user_id, new_id
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.webhooks.targets import check_target
from runyard.storage.db import Event, Webhook, WebhookAttempt, WebhookDelivery

MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600


@dataclass
class WebhookChanges:
    """What an update sets; None leaves a field as it is."""

    endpoint_url: str | None = None
    description: str | None = None
    event_types: Any = None
    filters: Any = None
    headers: Any = None
    status: str | None = None


def _fernet(platform: Platform) -> Fernet:
    digest = hashlib.sha256(b"webhooks:" + platform.secrets_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(platform: Platform, secret: str) -> str:
    return _fernet(platform).encrypt(secret.encode()).decode()


def decrypt_secret(platform: Platform, ciphertext: str) -> str:
    try:
        return _fernet(platform).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise Conflict("the webhook's secret cannot be decrypted with this server's key") from None


def signing_secrets(platform: Platform, row: Webhook, now: datetime) -> list[str]:
    """The secrets a delivery is signed with: the previous one first while its overlap lasts, then the current."""
    out = []
    if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
        out.append(decrypt_secret(platform, row.previous_secret))
    out.append(decrypt_secret(platform, row.secret))
    return out


def load_webhook(session: Session, principal: Principal, webhook_id: str) -> Webhook:
    row = session.scalar(select(Webhook).where(Webhook.account_id == principal.account_id, Webhook.id == webhook_id))
    if row is None:
        raise NotFound(f"webhook {webhook_id!r} does not exist")
    return row


def _validate_url(platform: Platform, url: Any) -> str:
    if not isinstance(url, str):
        raise Invalid("endpoint_url must be a string")
    check_target(platform.settings.webhooks, url, strict_dns=False)
    return url


def create(platform: Platform, principal: Principal, *, webhook_id: str | None, endpoint_url: Any, description: str | None,
           event_types: Any, filters: Any = None, headers: Any = None) -> Webhook:
    webhook_id = webhook_id or new_id("webhook")
    if not is_valid_user_id(webhook_id):
        raise Invalid(f"webhook id {webhook_id!r} is not valid: letters, digits, '.', '_' and '-', at most 128")
    now = datetime.now(UTC)
    row = Webhook(
        pk=new_id("wh", 16), account_id=principal.account_id, id=webhook_id,
        endpoint_url=_validate_url(platform, endpoint_url), description=description or "",
        event_types=wh.parse_event_types(event_types), filters=wh.parse_filters(filters), headers=wh.parse_headers(headers),
        secret=encrypt_secret(platform, wh.new_secret()), status="enabled", disabled_reason="", consecutive_failures=0,
        created_at=now, updated_at=now,
    )
    with platform.db.session() as s:
        if s.scalar(select(Webhook.pk).where(Webhook.account_id == principal.account_id, Webhook.id == webhook_id)):
            raise Conflict(f"webhook {webhook_id!r} already exists")
        s.add(row)
    return row


def list_webhooks(platform: Platform, principal: Principal) -> list[Webhook]:
    with platform.db.session() as s:
        return list(s.scalars(select(Webhook).where(Webhook.account_id == principal.account_id).order_by(Webhook.created_at)))


def get(platform: Platform, principal: Principal, webhook_id: str) -> Webhook:
    with platform.db.session() as s:
        return load_webhook(s, principal, webhook_id)


def update(platform: Platform, principal: Principal, webhook_id: str, changes: WebhookChanges) -> Webhook:
    with platform.db.session() as s:
        row = load_webhook(s, principal, webhook_id)
        if changes.endpoint_url is not None:
            row.endpoint_url = _validate_url(platform, changes.endpoint_url)
        if changes.description is not None:
            row.description = changes.description
        if changes.event_types is not None:
            row.event_types = wh.parse_event_types(changes.event_types)
        if changes.filters is not None:
            row.filters = wh.parse_filters(changes.filters)
        if changes.headers is not None:
            row.headers = wh.parse_headers(changes.headers)
        if changes.status is not None:
            _set_status(row, changes.status)
        row.updated_at = datetime.now(UTC)
    return row


def _set_status(row: Webhook, status: str) -> None:
    if status not in ("enabled", "disabled"):
        raise Invalid(f"status must be 'enabled' or 'disabled', not {status!r}")
    if status == "enabled" and row.status != "enabled":
        row.consecutive_failures, row.failing_since, row.disabled_reason = 0, None, ""
    elif status == "disabled" and row.status != "disabled":
        row.disabled_reason = "disabled by a user"
    row.status = status


def delete(platform: Platform, principal: Principal, webhook_id: str) -> None:
    with platform.db.session() as s:
        s.delete(load_webhook(s, principal, webhook_id))


def get_secret(platform: Platform, principal: Principal, webhook_id: str) -> str:
    return decrypt_secret(platform, get(platform, principal, webhook_id).secret)


def rotate_secret(platform: Platform, principal: Principal, webhook_id: str, *, overlap_seconds: float) -> tuple[str, datetime | None]:
    """A new secret; the old one keeps signing (beside it) for ``overlap_seconds``."""
    if not 0 <= overlap_seconds <= MAX_ROTATION_OVERLAP_SECONDS:
        raise Invalid(f"overlap_seconds must be between 0 and {MAX_ROTATION_OVERLAP_SECONDS}")
    now = datetime.now(UTC)
    secret = wh.new_secret()
    with platform.db.session() as s:
        row = load_webhook(s, principal, webhook_id)
        row.previous_secret = row.secret if overlap_seconds else None
        row.previous_secret_expires_at = now + timedelta(seconds=overlap_seconds) if overlap_seconds else None
        row.secret = encrypt_secret(platform, secret)
        row.updated_at = now
        return secret, row.previous_secret_expires_at


def trigger(platform: Platform, principal: Principal, webhook_id: str) -> WebhookDelivery:
    """Send this webhook a sample ``run.status`` event (marked ``"test": true``) through the normal path."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        row = load_webhook(s, principal, webhook_id)
        event = Event(account_id=principal.account_id, type=wh.RUN_STATUS, subject="", app_id="", detail="succeeded",
                      fanned_out=True, created_at=now)
        s.add(event)
        s.flush()
        data = {"run_id": "run-test", "application_id": "test-application", "instance_id": "latest", "version_id": "",
                "status_v2": "succeeded", "status": "succeeded", "created_at": _ts(now), "started_at": _ts(now),
                "finished_at": _ts(now), "duration_ms": 0.0, "error": "", "experiment_id": None}
        event.body = data
        delivery = new_delivery(row, event, event_body(event, data, test=True))
        s.add(delivery)
    platform.wakeup_webhooks()
    return delivery


def _ts(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_body(event: Event, data: dict[str, Any], *, test: bool = False) -> str:
    """The JSON sent for an event: its type, id, time and data."""
    doc: dict[str, Any] = {"event_id": f"evt-{event.id}", "event_type": event.type, "created_at": _ts(event.created_at),
                           "data": data}
    if test:
        doc["test"] = True
    return json.dumps(doc, separators=(",", ":"))


def new_delivery(webhook: Webhook, event: Event, body: str) -> WebhookDelivery:
    return WebhookDelivery(id=new_id("msg", 20), webhook_pk=webhook.pk, event_id=event.id, event_type=event.type,
                           subject=event.subject, body=body, state="pending", attempts=0,
                           next_attempt_at=datetime.now(UTC), last_error="", created_at=datetime.now(UTC))


def list_deliveries(platform: Platform, principal: Principal, webhook_id: str, *, token: str | None,
                    limit: int | None) -> Page[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    with platform.db.session() as s:
        row = load_webhook(s, principal, webhook_id)
        page = paginate(s, select(WebhookDelivery).where(WebhookDelivery.webhook_pk == row.pk),
                        created=WebhookDelivery.created_at, key=WebhookDelivery.id, token=token, limit=limit)
        ids = [d.id for d in page.items]
        attempts: dict[str, list[WebhookAttempt]] = {i: [] for i in ids}
        if ids:
            for a in s.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)).order_by(WebhookAttempt.id)):
                attempts[a.delivery_id].append(a)
        return Page(items=[(d, attempts[d.id]) for d in page.items], next_token=page.next_token)


def get_delivery(platform: Platform, principal: Principal, webhook_id: str, delivery_id: str) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    with platform.db.session() as s:
        row = load_webhook(s, principal, webhook_id)
        delivery = s.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.webhook_pk != row.pk:
            raise NotFound(f"delivery {delivery_id!r} of webhook {webhook_id!r} does not exist")
        attempts = list(s.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)))
        return delivery, attempts


def redeliver(platform: Platform, principal: Principal, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again, now, with a fresh budget of attempts (same ``webhook-id``: receivers that
    deduplicate see it as the same message)."""
    with platform.db.session() as s:
        row = load_webhook(s, principal, webhook_id)
        delivery = s.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.webhook_pk != row.pk:
            raise NotFound(f"delivery {delivery_id!r} of webhook {webhook_id!r} does not exist")
        if delivery.state == "pending":
            raise Conflict(f"delivery {delivery_id!r} is still pending")
        delivery.state, delivery.attempts, delivery.finished_at = "pending", 0, None
        delivery.next_attempt_at, delivery.lease_expires_at = datetime.now(UTC), None
    platform.wakeup_webhooks()
    return delivery


def attempt_count(session: Session, delivery_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)) or 0)

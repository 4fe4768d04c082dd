"""Webhooks (the product's v1/webhooks, plus deliveries, redelivery and secret rotation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.deps import Developer, PagingDep, PlatformDep, Viewer
from runyard.server.schemas import webhooks as sc
from runyard.server.schemas.views import ts
from runyard.services import accounts
from runyard.services.webhooks import manage

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("")
def create_webhook(body: sc.WebhookCreate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    row = manage.create(platform, principal, webhook_id=body.id, endpoint_url=body.endpoint_url, description=body.description,
                        event_types=body.event_types, filters=body.filters, headers=body.headers)
    return sc.webhook_view(row)


@router.get("")
def list_webhooks(platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    reveal = accounts.has_role(principal, "developer")  # custom headers may hold the receiver's credentials
    return {"items": [sc.webhook_view(r, reveal=reveal) for r in manage.list_webhooks(platform, principal)]}


@router.get("/{webhook_id}")
def get_webhook(webhook_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return sc.webhook_view(manage.get(platform, principal, webhook_id), reveal=accounts.has_role(principal, "developer"))


@router.put("/{webhook_id}")
@router.patch("/{webhook_id}")
def update_webhook(webhook_id: str, body: sc.WebhookUpdate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    changes = manage.WebhookChanges(**body.model_dump(exclude_unset=True))
    return sc.webhook_view(manage.update(platform, principal, webhook_id, changes))


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, platform: PlatformDep, principal: Developer) -> Response:
    manage.delete(platform, principal, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/secret")
def get_secret(webhook_id: str, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    return {"secret": manage.get_secret(platform, principal, webhook_id)}


@router.post("/{webhook_id}/secret/rotate")
def rotate_secret(webhook_id: str, body: sc.SecretRotate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    secret, until = manage.rotate_secret(platform, principal, webhook_id, overlap_seconds=body.overlap_seconds)
    return {"secret": secret, "previous_secret_expires_at": ts(until)}


@router.post("/{webhook_id}/trigger")
@router.post("/{webhook_id}/test")
def trigger(webhook_id: str, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    return sc.delivery_view(manage.trigger(platform, principal, webhook_id), [])


@router.get("/{webhook_id}/deliveries")
def list_deliveries(webhook_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> dict[str, Any]:
    page = manage.list_deliveries(platform, principal, webhook_id, token=paging.token, limit=paging.limit or 100)
    out: dict[str, Any] = {"items": [sc.delivery_view(d, a) for d, a in page.items]}
    if page.next_token:
        out["next_page_token"] = page.next_token
    return out


@router.get("/{webhook_id}/deliveries/{delivery_id}")
def get_delivery(webhook_id: str, delivery_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return sc.delivery_view(*manage.get_delivery(platform, principal, webhook_id, delivery_id))


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver(webhook_id: str, delivery_id: str, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    manage.redeliver(platform, principal, webhook_id, delivery_id)
    return sc.delivery_view(*manage.get_delivery(platform, principal, webhook_id, delivery_id))

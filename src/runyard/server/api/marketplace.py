"""The marketplace (the 1.13.0 SDK's ``nextmv.cloud.marketplace``) as a catalog internal to the
server: accounts publish versions of their apps, other accounts subscribe and run them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.deps import PlatformDep, Viewer
from runyard.server.schemas.requests import Body
from runyard.server.schemas.views import ts
from runyard.services import marketplace as mk
from runyard.services.platform import Principal
from runyard.storage.db import MarketplaceVersion

router = APIRouter(prefix="/v1/marketplace", tags=["marketplace"])
PARTNER_APP = "/partners/{partner_id}/apps/{app_id}"


class AppCreate(Body):
    id: Any = None
    ref_app_id: Any = None
    title: Any = None
    description: Any = None
    categories: Any = None
    features: Any = None


class AppUpdate(Body):
    """1.13.0 sends the whole object back; ``id``, ``partner_id``, ``ref_app_id`` and dates are ignored."""

    title: Any = None
    description: Any = None
    categories: Any = None
    features: Any = None
    state: Any = None


class VersionCreate(Body):
    id: Any = None
    change_log: Any = None
    ref_app_version_id: Any = None


class VersionUpdate(Body):
    change_log: Any = None


class SubscriptionCreate(Body):
    subscription_id: Any = None


def app_view(view: mk.AppView, principal: Principal) -> dict[str, Any]:
    row = view.row
    out: dict[str, Any] = {
        "id": row.id, "partner_id": row.partner_id, "title": row.title, "state": row.state,
        "description": row.description, "categories": list(row.categories or []), "features": list(row.features or []),
        "created_at": ts(row.created_at), "updated_at": ts(row.updated_at), "latest_versions": view.latest_versions,
    }
    if row.partner_id == principal.account_id:
        out["ref_app_id"] = view.ref_app_id  # the partner's own application: not shown to subscribers
    return out


def version_view(v: MarketplaceVersion, partner_id: str, app_id: str) -> dict[str, Any]:
    return {"id": v.id, "change_log": list(v.change_log or []), "app_id": app_id, "partner_id": partner_id,
            "created_at": ts(v.created_at), "updated_at": ts(v.updated_at)}


def subscription_view(sub: mk.SubscriptionView) -> dict[str, Any]:
    return {"subscription_id": sub.subscription_id, "partner_name": sub.partner_name, "app_title": sub.app_title,
            "subscription_date": ts(sub.created_at)}


@router.get("/apps")
def list_apps(platform: PlatformDep, principal: Viewer) -> list[dict[str, Any]]:
    return [app_view(v, principal) for v in mk.list_apps(platform, principal)]


@router.get("/partners/{partner_id}/apps")
def list_partner_apps(partner_id: str, platform: PlatformDep, principal: Viewer) -> list[dict[str, Any]]:
    return [app_view(v, principal) for v in mk.list_apps(platform, principal, partner_id)]


@router.post("/partners/{partner_id}/apps")
def create_app(partner_id: str, body: AppCreate, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    view = mk.create_app(platform, principal, partner_id, app_id=body.id, ref_app_id=body.ref_app_id, title=body.title,
                         description=body.description, categories=body.categories, features=body.features)
    return app_view(view, principal)


@router.get(PARTNER_APP)
def get_app(partner_id: str, app_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return app_view(mk.get_app(platform, principal, partner_id, app_id), principal)


@router.put(PARTNER_APP)
def update_app(partner_id: str, app_id: str, body: AppUpdate, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    view = mk.update_app(platform, principal, partner_id, app_id, **body.model_dump(exclude_unset=True))
    return app_view(view, principal)


@router.get(PARTNER_APP + "/versions")
def list_versions(partner_id: str, app_id: str, platform: PlatformDep, principal: Viewer) -> list[dict[str, Any]]:
    return [version_view(v, partner_id, app_id) for v in mk.list_versions(platform, principal, partner_id, app_id)]


@router.post(PARTNER_APP + "/versions")
def publish_version(partner_id: str, app_id: str, body: VersionCreate, platform: PlatformDep,
                    principal: Viewer) -> dict[str, Any]:
    v = mk.publish_version(platform, principal, partner_id, app_id, version_id=body.id, change_log=body.change_log,
                           ref_version_id=body.ref_app_version_id)
    return version_view(v, partner_id, app_id)


@router.get(PARTNER_APP + "/versions/{version_id}")
def get_version(partner_id: str, app_id: str, version_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return version_view(mk.get_version(platform, principal, partner_id, app_id, version_id), partner_id, app_id)


@router.put(PARTNER_APP + "/versions/{version_id}")
def update_version(partner_id: str, app_id: str, version_id: str, body: VersionUpdate, platform: PlatformDep,
                   principal: Viewer) -> dict[str, Any]:
    v = mk.update_version(platform, principal, partner_id, app_id, version_id, change_log=body.change_log)
    return version_view(v, partner_id, app_id)


@router.get("/subscriptions")
def list_subscriptions(platform: PlatformDep, principal: Viewer) -> list[dict[str, Any]]:
    return [subscription_view(s) for s in mk.list_subscriptions(platform, principal)]


@router.post("/subscriptions")
def subscribe(body: SubscriptionCreate, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return subscription_view(mk.subscribe(platform, principal, body.subscription_id))


@router.get("/subscriptions/{subscription_id}")
def get_subscription(subscription_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return subscription_view(mk.get_subscription(platform, principal, subscription_id))


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(subscription_id: str, platform: PlatformDep, principal: Viewer) -> Response:
    mk.unsubscribe(platform, principal, subscription_id)
    return Response(status_code=204)

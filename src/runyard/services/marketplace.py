"""The marketplace as an internal catalog: one account (the partner) publishes versions of one of its
applications, other accounts of the server subscribe and run them.

- A marketplace app names one of the partner's applications; every account sees the catalog.
- A marketplace version fixes the executable of one of that application's versions when published.
- A subscription is an application of type ``subscription`` in the subscriber's account, with the
  subscription id as its id. It holds one version per published version (same id, the published
  executable) and runs the newest one by default (instance ``latest``). The subscriber's runs, inputs
  and secrets stay the subscriber's; the partner's other versions, runs and data stay invisible.
- Retracting a marketplace app stops new subscriptions; existing subscribers keep what they had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Conflict, Forbidden, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.services import accounts
from runyard.services.apps import check_user_id, delete_app, load_app
from runyard.services.platform import Platform, Principal
from runyard.services.versions import load_version
from runyard.storage.db import (
    Account,
    Application,
    MarketplaceApp,
    MarketplaceSubscription,
    MarketplaceVersion,
    Version,
)

STATES = ("released", "pre-release", "retracted")


@dataclass
class AppView:
    row: MarketplaceApp
    ref_app_id: str
    latest_versions: list[str]


@dataclass
class SubscriptionView:
    subscription_id: str
    partner_name: str
    app_title: str
    created_at: datetime


MAX_TEXT = 256  # titles, ids and subscription ids; descriptions and change logs may be longer
MAX_LONG = 64 * 1024


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "\0" not in v for v in value):
        raise Invalid(f"{name} must be a list of strings")
    if sum(len(v) for v in value) > MAX_LONG:
        raise Invalid(f"{name} must be at most {MAX_LONG} characters in all")
    return list(value)


def _text(value: Any, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or "\0" in value:
        raise Invalid(f"{name} must be a non-empty string" if required else f"{name} must be a string")
    if len(value.strip()) > limit:
        raise Invalid(f"{name} must be at most {limit} characters")
    return value.strip()


def _id(value: Any, what: str, prefix: str) -> str:
    """A caller-chosen id, or a new one when none is given."""
    if value is None or value == "":
        return new_id(prefix)
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    return check_user_id(value, what)


def _plain(value: str) -> bool:
    """Whether a path id can name anything at all (a NUL byte or an overlong id cannot)."""
    return "\0" not in value and len(value) <= MAX_TEXT


def _own_partner(principal: Principal, partner_id: str) -> None:
    accounts.require_role(principal, "developer")
    if partner_id != principal.account_id:
        raise Forbidden(f"an account publishes as itself: use partner id {principal.account_id!r}")


def _load(s: Session, partner_id: str, app_id: str) -> MarketplaceApp:
    if not (_plain(partner_id) and _plain(app_id)):
        raise NotFound("marketplace app does not exist")
    row = s.scalar(select(MarketplaceApp).where(MarketplaceApp.partner_id == partner_id, MarketplaceApp.id == app_id))
    if row is None:
        raise NotFound(f"marketplace app {app_id!r} of partner {partner_id!r} does not exist")
    return row


def _view(s: Session, row: MarketplaceApp) -> AppView:
    ref = s.get(Application, row.ref_app_pk)
    newest = s.scalars(select(MarketplaceVersion.id).where(MarketplaceVersion.mapp_pk == row.pk)
                       .order_by(MarketplaceVersion.created_at.desc(), MarketplaceVersion.pk.desc()).limit(1))
    return AppView(row=row, ref_app_id=ref.id if ref else "", latest_versions=list(newest))


# --- marketplace apps --------------------------------------------------------------------------

def list_apps(platform: Platform, principal: Principal, partner_id: str | None = None) -> list[AppView]:
    """The catalog (every partner's apps, or one partner's)."""
    if partner_id and not _plain(partner_id):
        return []
    with platform.db.session() as s:
        query = select(MarketplaceApp).order_by(MarketplaceApp.created_at, MarketplaceApp.pk)
        if partner_id:
            query = query.where(MarketplaceApp.partner_id == partner_id)
        return [_view(s, row) for row in s.scalars(query)]


def get_app(platform: Platform, principal: Principal, partner_id: str, app_id: str) -> AppView:
    with platform.db.session() as s:
        return _view(s, _load(s, partner_id, app_id))


def create_app(platform: Platform, principal: Principal, partner_id: str, *, app_id: Any, ref_app_id: Any,
               title: Any, description: Any = None, categories: Any = None, features: Any = None) -> AppView:
    """Offer one of the caller's applications in the catalog (pre-release until released)."""
    _own_partner(principal, partner_id)
    app_id = _id(app_id, "marketplace app id", "marketplace-app")
    title = _text(title, "title", required=True)
    row = MarketplaceApp(partner_id=partner_id, id=app_id, title=title,
                         description=_text(description, "description", limit=MAX_LONG),
                         categories=_strings(categories, "categories"), features=_strings(features, "features"))
    with platform.db.session() as s:
        ref = load_app(s, principal, _text(ref_app_id, "ref_app_id", required=True))
        if ref.type == "subscription":
            raise Conflict(f"application {ref.id!r} is a subscription: only an account's own apps can be published")
        if s.scalar(select(MarketplaceApp.pk).where(MarketplaceApp.partner_id == partner_id,
                                                    MarketplaceApp.id == app_id)) is not None:
            raise Conflict(f"marketplace app {app_id!r} already exists")
        row.ref_app_pk = ref.pk
        s.add(row)
        s.flush()
        return _view(s, row)


def update_app(platform: Platform, principal: Principal, partner_id: str, app_id: str, *, title: Any = None,
               description: Any = None, categories: Any = None, features: Any = None, state: Any = None) -> AppView:
    """1.13.0 sends the whole object back with some fields replaced; read-only ones are ignored."""
    _own_partner(principal, partner_id)
    if state is not None and state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}")
    with platform.db.session() as s:
        row = _load(s, partner_id, app_id)
        if title is not None:
            row.title = _text(title, "title", required=True)
        if description is not None:
            row.description = _text(description, "description", limit=MAX_LONG)
        if categories is not None:
            row.categories = _strings(categories, "categories")
        if features is not None:
            row.features = _strings(features, "features")
        if state is not None:
            row.state = state
        row.updated_at = datetime.now(UTC)
        return _view(s, row)


# --- versions ----------------------------------------------------------------------------------

def list_versions(platform: Platform, principal: Principal, partner_id: str, app_id: str) -> list[MarketplaceVersion]:
    with platform.db.session() as s:
        row = _load(s, partner_id, app_id)
        return list(s.scalars(select(MarketplaceVersion).where(MarketplaceVersion.mapp_pk == row.pk)
                              .order_by(MarketplaceVersion.created_at, MarketplaceVersion.pk)))


def get_version(platform: Platform, principal: Principal, partner_id: str, app_id: str, version_id: str) -> MarketplaceVersion:
    with platform.db.session() as s:
        return _load_version(s, _load(s, partner_id, app_id), version_id)


def _load_version(s: Session, row: MarketplaceApp, version_id: str) -> MarketplaceVersion:
    if not _plain(version_id):
        raise NotFound("marketplace version does not exist")
    found = s.scalar(select(MarketplaceVersion).where(MarketplaceVersion.mapp_pk == row.pk, MarketplaceVersion.id == version_id))
    if found is None:
        raise NotFound(f"marketplace version {version_id!r} of {row.id!r} does not exist")
    return found


def publish_version(platform: Platform, principal: Principal, partner_id: str, app_id: str, *, version_id: Any,
                    change_log: Any, ref_version_id: Any) -> MarketplaceVersion:
    """Publish one version of the referenced application: subscribers get it at once, as their newest."""
    _own_partner(principal, partner_id)
    version_id = _id(version_id, "marketplace version id", "marketplace-version")
    log = _strings(change_log, "change_log")
    with platform.db.session() as s:
        row = _load(s, partner_id, app_id)
        ref_app = s.get(Application, row.ref_app_pk)
        if ref_app is None or ref_app.account_id != principal.account_id:
            raise NotFound(f"the application of marketplace app {app_id!r} no longer exists")
        source = load_version(s, ref_app, _text(ref_version_id, "ref_app_version_id", required=True))
        if s.scalar(select(MarketplaceVersion.pk).where(MarketplaceVersion.mapp_pk == row.pk,
                                                        MarketplaceVersion.id == version_id)) is not None:
            raise Conflict(f"marketplace version {version_id!r} already exists")
        published = MarketplaceVersion(mapp_pk=row.pk, id=version_id, ref_version_id=source.id,
                                       bundle_id=source.bundle_id, change_log=log)
        s.add(published)
        s.flush()
        for sub in s.scalars(select(MarketplaceSubscription).where(MarketplaceSubscription.mapp_pk == row.pk)):
            subscribed = s.get(Application, sub.app_pk)
            if subscribed is not None:
                _mirror(s, subscribed, published, row.title)
        return published


def _mirror(s: Session, subscribed: Application, published: MarketplaceVersion, title: str) -> None:
    """A published version as a version of the subscriber's app, and its newest executable."""
    s.add(Version(app_pk=subscribed.pk, id=published.id, name=published.id, bundle_id=published.bundle_id,
                  description=f"{title}: " + "; ".join(published.change_log) if published.change_log else title))
    subscribed.latest_bundle_id = published.bundle_id
    subscribed.updated_at = datetime.now(UTC)


def update_version(platform: Platform, principal: Principal, partner_id: str, app_id: str, version_id: str, *,
                   change_log: Any) -> MarketplaceVersion:
    _own_partner(principal, partner_id)
    with platform.db.session() as s:
        found = _load_version(s, _load(s, partner_id, app_id), version_id)
        found.change_log = _strings(change_log, "change_log")
        found.updated_at = datetime.now(UTC)
        return found


# --- subscriptions -----------------------------------------------------------------------------

def _resolve(s: Session, subscription_id: str) -> MarketplaceApp:
    """The marketplace app ``<partner id>-<app id>`` names (ids may hold dashes: every split is tried)."""
    for i, char in enumerate(subscription_id):
        if char == "-":
            row = s.scalar(select(MarketplaceApp).where(MarketplaceApp.partner_id == subscription_id[:i],
                                                        MarketplaceApp.id == subscription_id[i + 1:]))
            if row is not None:
                return row
    raise NotFound(f"no marketplace app has the subscription id {subscription_id!r} (<partner id>-<app id>)")


def _subscription_view(s: Session, sub: MarketplaceSubscription) -> SubscriptionView:
    mapp = s.get(MarketplaceApp, sub.mapp_pk)
    partner = s.get(Account, mapp.partner_id) if mapp else None
    return SubscriptionView(subscription_id=sub.subscription_id, partner_name=partner.name if partner else "",
                            app_title=mapp.title if mapp else "", created_at=sub.created_at)


def subscribe(platform: Platform, principal: Principal, subscription_id: Any) -> SubscriptionView:
    """Subscribe the caller's account: an application ``subscription_id`` of type subscription appears in it."""
    accounts.require_role(principal, "developer")
    subscription_id = _text(subscription_id, "subscription_id", required=True)
    with platform.db.session() as s:
        mapp = _resolve(s, subscription_id)
        if mapp.state == "retracted":
            raise Conflict(f"marketplace app {mapp.id!r} is retracted: it takes no new subscriptions")
        if s.scalar(select(Application.pk).where(Application.account_id == principal.account_id,
                                                 Application.id == subscription_id)) is not None:
            raise Conflict(f"application {subscription_id!r} already exists in this account")
        app = Application(account_id=principal.account_id, id=subscription_id, name=mapp.title,
                          description=mapp.description, type="subscription")
        s.add(app)
        s.flush()
        for published in s.scalars(select(MarketplaceVersion).where(MarketplaceVersion.mapp_pk == mapp.pk)
                                   .order_by(MarketplaceVersion.created_at, MarketplaceVersion.pk)):
            _mirror(s, app, published, mapp.title)
        sub = MarketplaceSubscription(account_id=principal.account_id, subscription_id=subscription_id,
                                      mapp_pk=mapp.pk, app_pk=app.pk)
        s.add(sub)
        s.flush()
        return _subscription_view(s, sub)


def _load_subscription(s: Session, principal: Principal, subscription_id: str) -> MarketplaceSubscription:
    if not _plain(subscription_id):
        raise NotFound("subscription does not exist")
    sub = s.scalar(select(MarketplaceSubscription).where(MarketplaceSubscription.account_id == principal.account_id,
                                                         MarketplaceSubscription.subscription_id == subscription_id))
    if sub is None:
        raise NotFound(f"subscription {subscription_id!r} does not exist")
    return sub


def list_subscriptions(platform: Platform, principal: Principal) -> list[SubscriptionView]:
    with platform.db.session() as s:
        subs = s.scalars(select(MarketplaceSubscription).where(MarketplaceSubscription.account_id == principal.account_id)
                         .order_by(MarketplaceSubscription.created_at, MarketplaceSubscription.pk))
        return [_subscription_view(s, sub) for sub in subs]


def get_subscription(platform: Platform, principal: Principal, subscription_id: str) -> SubscriptionView:
    with platform.db.session() as s:
        return _subscription_view(s, _load_subscription(s, principal, subscription_id))


def unsubscribe(platform: Platform, principal: Principal, subscription_id: str) -> None:
    """End the subscription: its application goes, with the runs made through it."""
    accounts.require_role(principal, "developer")
    with platform.db.session() as s:
        sub = _load_subscription(s, principal, subscription_id)
        app_id = s.get(Application, sub.app_pk).id  # type: ignore[union-attr]
    delete_app(platform, principal, app_id)  # the subscription row goes with its application

"""``Marketplace``: the marketplace as a catalog internal to one Runyard (the calls of the 1.13.0 SDK's
``nextmv.cloud.marketplace``). An account (the partner) publishes versions of one of its apps; other
accounts subscribe, which gives them an application of type ``subscription`` that runs the published
executables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pydantic import AliasChoices, Field

from runyard.sdk._base_model import BaseModel
from runyard.sdk._client import Client


class MarketplaceState(StrEnum):
    RELEASED = "released"
    PRE_RELEASE = "pre-release"
    RETRACTED = "retracted"


class MarketplaceVersion(BaseModel):
    """A published version: the executable of one of the partner's versions, fixed when published."""

    version_id: str = Field(serialization_alias="id", validation_alias=AliasChoices("id", "version_id"))
    change_log: list[str]
    app_id: str
    partner_id: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MarketplaceApplication(BaseModel):
    """An app of the catalog (``reference_app_id`` is shown to its partner only)."""

    app_id: str = Field(serialization_alias="id", validation_alias=AliasChoices("id", "app_id"))
    partner_id: str
    title: str
    state: MarketplaceState
    reference_app_id: str | None = Field(None, serialization_alias="ref_app_id",
                                         validation_alias=AliasChoices("ref_app_id", "reference_app_id"))
    description: str | None = None
    categories: list[str] | None = None
    features: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    latest_versions: list[str] | None = None

    @property
    def subscription_id(self) -> str:
        """What another account subscribes with."""
        return f"{self.partner_id}-{self.app_id}"


class MarketplaceSubscription(BaseModel):
    """A subscription of the caller's account; ``subscription_id`` is also its application's id."""

    subscription_id: str
    partner_name: str
    app_title: str
    subscription_date: str | None = None


@dataclass
class Marketplace:
    """Publish, browse and subscribe."""

    client: Client
    endpoint: str = "v1/marketplace"

    def _app(self, partner_id: str, app_id: str) -> str:
        return f"{self.endpoint}/partners/{quote(partner_id, safe='')}/apps/{quote(app_id, safe='')}"

    def _get(self, path: str) -> Any:
        return self.client.request("GET", path).json()

    def list_applications(self, partner_id: str | None = None) -> list[MarketplaceApplication]:
        """Every partner's apps, or one partner's."""
        path = f"{self.endpoint}/partners/{quote(partner_id, safe='')}/apps" if partner_id else f"{self.endpoint}/apps"
        return [MarketplaceApplication.from_dict(a) for a in self._get(path)]

    def application(self, partner_id: str, app_id: str) -> MarketplaceApplication:
        return MarketplaceApplication.from_dict(self._get(self._app(partner_id, app_id)))

    def new_application(self, partner_id: str, reference_app_id: str, title: str, app_id: str | None = None,
                        description: str | None = None, categories: list[str] | None = None,
                        features: list[str] | None = None) -> MarketplaceApplication:
        """Offer one of your account's apps (``partner_id`` is your account's id); pre-release until released."""
        payload = {"id": app_id, "ref_app_id": reference_app_id, "title": title, "description": description,
                   "categories": categories, "features": features}
        body = self.client.request("POST", f"{self.endpoint}/partners/{quote(partner_id, safe='')}/apps",
                                   payload={k: v for k, v in payload.items() if v is not None}).json()
        return MarketplaceApplication.from_dict(body)

    def update_application(self, partner_id: str, app_id: str, *, title: str | None = None,
                           description: str | None = None, categories: list[str] | None = None,
                           features: list[str] | None = None,
                           state: MarketplaceState | str | None = None) -> MarketplaceApplication:
        """Change the given fields; ``state=retracted`` stops new subscriptions."""
        payload = {"title": title, "description": description, "categories": categories, "features": features,
                   "state": state.value if isinstance(state, MarketplaceState) else state}
        body = self.client.request("PUT", self._app(partner_id, app_id),
                                   payload={k: v for k, v in payload.items() if v is not None}).json()
        return MarketplaceApplication.from_dict(body)

    def list_versions(self, partner_id: str, app_id: str) -> list[MarketplaceVersion]:
        return [MarketplaceVersion.from_dict(v) for v in self._get(f"{self._app(partner_id, app_id)}/versions")]

    def new_version(self, partner_id: str, app_id: str, reference_version_id: str, change_log: list[str] | None = None,
                    version_id: str | None = None) -> MarketplaceVersion:
        """Publish one of the referenced app's versions; subscribers run it as their newest at once."""
        payload: dict[str, Any] = {"change_log": change_log or [], "ref_app_version_id": reference_version_id}
        if version_id:
            payload["id"] = version_id
        body = self.client.request("POST", f"{self._app(partner_id, app_id)}/versions", payload=payload).json()
        return MarketplaceVersion.from_dict(body)

    def version(self, partner_id: str, app_id: str, version_id: str) -> MarketplaceVersion:
        return MarketplaceVersion.from_dict(self._get(f"{self._app(partner_id, app_id)}/versions/{quote(version_id, safe='')}"))

    def list_subscriptions(self) -> list[MarketplaceSubscription]:
        """Your account's subscriptions."""
        return [MarketplaceSubscription.from_dict(s) for s in self._get(f"{self.endpoint}/subscriptions")]

    def subscribe(self, subscription_id: str) -> MarketplaceSubscription:
        """Subscribe to ``<partner id>-<app id>``: an application with that id appears in your account."""
        body = self.client.request("POST", f"{self.endpoint}/subscriptions",
                                   payload={"subscription_id": subscription_id}).json()
        return MarketplaceSubscription.from_dict(body)

    def subscription(self, subscription_id: str) -> MarketplaceSubscription:
        return MarketplaceSubscription.from_dict(self._get(f"{self.endpoint}/subscriptions/{quote(subscription_id, safe='')}"))

    def unsubscribe(self, subscription_id: str) -> None:
        """End a subscription: its application goes, with the runs made through it."""
        self.client.request("DELETE", f"{self.endpoint}/subscriptions/{quote(subscription_id, safe='')}")

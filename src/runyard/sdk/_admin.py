"""``Admin``: accounts and API keys through Runyard's admin API (an admin key is needed).

A Runyard extension: the Nextmv SDK has no equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runyard.sdk._base_model import BaseModel
from runyard.sdk._client import Client

DEFAULT_ACCOUNT = "default"


class AccountInformation(BaseModel):
    """An account: the owner of applications, runs and keys."""

    id: str
    name: str
    created_at: datetime


class ApiKey(BaseModel):
    """An API key as listed (never its secret)."""

    id: str
    account_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedApiKey(BaseModel):
    """A key just created; ``key`` is the secret and is shown only this once."""

    id: str
    account_id: str
    name: str
    role: str
    key: str
    member_email: str | None = None  # set when an admin issued it to a member of an organization


@dataclass
class Admin:
    """Accounts and their API keys. Admins of the default account manage every account; other
    admins only their own."""

    client: Client
    endpoint: str = "v1/admin"

    def list_accounts(self) -> list[AccountInformation]:
        """The accounts this key may manage."""
        body = self.client.request("GET", f"{self.endpoint}/accounts").json()
        return [AccountInformation.from_dict(a) for a in body]

    def new_account(self, name: str) -> AccountInformation:
        """Create an account (admins of the default account only)."""
        body = self.client.request("POST", f"{self.endpoint}/accounts", payload={"name": name}).json()
        return AccountInformation.from_dict(body)

    def list_api_keys(self, account_id: str = DEFAULT_ACCOUNT) -> list[ApiKey]:
        """An account's keys, revoked ones included."""
        body = self.client.request("GET", f"{self.endpoint}/accounts/{account_id}/keys").json()
        return [ApiKey.from_dict(k) for k in body]

    def new_api_key(self, account_id: str = DEFAULT_ACCOUNT, role: str = "developer", name: str = "") -> IssuedApiKey:
        """Create a key with ``role`` (viewer, operator, developer or admin)."""
        body = self.client.request("POST", f"{self.endpoint}/accounts/{account_id}/keys",
                                   payload={"role": role, "name": name}).json()
        return IssuedApiKey.from_dict(body)

    def revoke_api_key(self, key_id: str, account_id: str = DEFAULT_ACCOUNT) -> None:
        """Revoke a key: it stops working at once."""
        self.client.request("DELETE", f"{self.endpoint}/accounts/{account_id}/keys/{key_id}")

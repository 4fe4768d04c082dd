"""``Account``: the account (organization) a key belongs to: its run queue, every run, its events, and
the 1.13.0 SDK's organization calls (``get``, ``new``, ``update``, ``delete``), plus Runyard's members
and the keys an admin issues them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from runyard.sdk._admin import IssuedApiKey
from runyard.sdk._base_model import BaseModel
from runyard.sdk._client import Client
from runyard.sdk._events import StreamEvent
from runyard.sdk._models_app import Queue
from runyard.sdk._models_runs import Run, StatusV2
from runyard.sdk._run_filters import iter_runs, run_query
from runyard.sdk._webhook_api import account_events

ORGANIZATION_ENDPOINT = "v1/organization"


class AccountMember(BaseModel):
    """A person of an organization: a role (viewer, operator, developer, admin), and whether their
    invite is still pending (no key issued to them yet)."""

    email: str | None = None
    role: str | None = None
    pending_invite: bool | None = None


@dataclass
class Account:
    """An account (organization). ``Account(client=…)`` is the key's own account (queue, events);
    ``Account.get``/``Account.new`` read or make an organization by id."""

    client: Client
    endpoint: str = "v1/account"
    account_id: str | None = None
    name: str | None = None
    members: list[AccountMember] = field(default_factory=list)

    @classmethod
    def _from_body(cls, client: Client, body: dict) -> Account:  # type: ignore[type-arg]
        members = [AccountMember.from_dict(m) for m in body.get("members") or []]
        return cls(client=client, account_id=body.get("id"), name=body.get("name"), members=members)

    @classmethod
    def get(cls, client: Client, account_id: str) -> Account:
        """The organization ``account_id`` with its members."""
        return cls._from_body(client, client.request("GET", _org_path(account_id)).json())

    @classmethod
    def mine(cls, client: Client) -> Account:
        """The organization the client's key belongs to."""
        (first, *_) = client.request("GET", "v1/internal/me/organization").json()
        return cls.get(client, first["id"])

    @classmethod
    def new(cls, client: Client, name: str, admins: list[str]) -> Account:
        """Create an organization (admins of the server's default account); ``admins`` become its
        admin members, their invites pending until a key is issued to them."""
        if not admins:
            raise ValueError("at least one admin email must be provided to create an account")
        body = client.request("POST", ORGANIZATION_ENDPOINT, payload={"name": name, "admins": admins}).json()
        return cls._from_body(client, body)

    def update(self, name: str) -> Account:
        """Rename the organization."""
        return self._from_body(self.client, self.client.request("PUT", self._path(), payload={"name": name}).json())

    def delete(self) -> None:
        """Delete the organization and everything it holds (apps, runs, payloads, keys)."""
        self.client.request("DELETE", self._path())

    def add_member(self, email: str, role: str = "viewer") -> Account:
        """Invite a member with ``role`` (an existing member gets the new role; their keys are revoked)."""
        body = self.client.request("POST", f"{self._path()}/members", payload={"email": email, "role": role}).json()
        return self._from_body(self.client, body)

    def remove_member(self, email: str) -> None:
        """Remove a member; every key issued to them stops working."""
        self.client.request("DELETE", f"{self._path()}/members/{quote(email, safe='@')}")

    def new_member_key(self, email: str, name: str = "") -> IssuedApiKey:
        """Issue a member a key with the member's role; the secret is in ``key``, shown only this once."""
        body = self.client.request("POST", f"{self._path()}/members/{quote(email, safe='@')}/keys",
                                   payload={"name": name}).json()
        return IssuedApiKey.from_dict(body)

    def _path(self) -> str:
        if not self.account_id:
            raise ValueError("account_id is needed: use Account.get(client, account_id)")
        return _org_path(self.account_id)

    def queue(self) -> Queue:
        """Runs waiting or executing, in the order they will be served."""
        return Queue.from_dict(self.client.request("GET", f"{self.endpoint}/queue").json())

    def list_runs(self, status: StatusV2 | Iterable[StatusV2] | None = None, *, application_id: str | None = None,
                  instance_id: str | None = None, version_id: str | None = None,
                  created_after: datetime | str | None = None, created_before: datetime | str | None = None,
                  limit: int | None = None) -> list[Run]:
        """Runs of every application of the account, newest first (Runyard's ``v1/runs``), filtered
        as ``Application.list_runs``; ``instance_id`` and ``version_id`` need ``application_id``."""
        query = run_query(status=status, instance_id=instance_id, version_id=version_id, created_after=created_after,
                          created_before=created_before, application_id=application_id)
        return [Run.from_dict(r) for r in iter_runs(self.client, "v1/runs", query, limit)]

    def events(self, *, application_id: str | None = None, event_types: list[str] | None = None,
               last_event_id: str | None = None) -> Iterator[StreamEvent]:
        """The account's events as they happen (Runyard's ``v1/events`` stream), resumed without a gap
        after a dropped connection."""
        return account_events(self.client, application_id=application_id, event_types=event_types,
                              last_event_id=last_event_id)


def _org_path(account_id: str) -> str:
    return f"{ORGANIZATION_ENDPOINT}/{quote(account_id, safe='')}"

"""Organizations (Nextmv Cloud's ``v1/organization``) onto Runyard's accounts: an account is one
organization, its members are the people an admin invited, each with a role, and a member's invite
stays pending until an admin issues the member a key.

Who may do what:
- any key of an account reads its organization; other accounts' organizations do not exist for it;
- admins of the default account (the server's administrators) create organizations;
- an account's admins (and the server's) rename it, manage its members, issue them keys, delete it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update

from runyard.domain.errors import Conflict, Forbidden, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.services import accounts
from runyard.services.apps import delete_app
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Account, AccountMember, ApiKey, Application, Event, Run

_EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
MAX_NAME = 256


@dataclass
class Member:
    email: str
    role: str
    pending_invite: bool


@dataclass
class Organization:
    id: str
    name: str
    members: list[Member] = field(default_factory=list)


def _email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 256 or not _EMAIL.match(value.strip()):
        raise Invalid(f"{value!r} is not an email address")
    return value.strip().lower()


def _role(value: Any) -> str:
    if value not in accounts.ROLES:
        raise Invalid(f"a member's role must be one of {', '.join(accounts.ROLES)}, not {value!r}")
    return str(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise Invalid("name must be a non-empty string")
    if len(value.strip()) > MAX_NAME:
        raise Invalid(f"name must be at most {MAX_NAME} characters")
    return value.strip()


def _readable(principal: Principal, account_id: str) -> None:
    """Any key of the account, or an admin of the default account; others see nothing."""
    if "\0" in account_id or len(account_id) > 64:
        raise NotFound("organization does not exist")
    if principal.account_id == account_id:
        return
    if principal.account_id == accounts.DEFAULT_ACCOUNT and accounts.has_role(principal, "admin"):
        return
    raise NotFound(f"organization {account_id!r} does not exist")


def _manageable(principal: Principal, account_id: str) -> None:
    _readable(principal, account_id)
    accounts.require_role(principal, "admin")


def _load(platform: Platform, account_id: str) -> Organization:
    with platform.db.session() as s:
        account = s.get(Account, account_id)
        if account is None:
            raise NotFound(f"organization {account_id!r} does not exist")
        rows = s.scalars(select(AccountMember).where(AccountMember.account_id == account_id).order_by(AccountMember.email))
        members = [Member(email=m.email, role=m.role, pending_invite=m.pending_invite) for m in rows]
        return Organization(id=account.id, name=account.name, members=members)


def get(platform: Platform, principal: Principal, account_id: str) -> Organization:
    """The organization with its members."""
    _readable(principal, account_id)
    return _load(platform, account_id)


def create(platform: Platform, principal: Principal, *, name: Any, admins: Any) -> Organization:
    """A new account whose listed admins become members with the admin role (their invites pending)."""
    accounts.require_role(principal, "admin")
    if principal.account_id != accounts.DEFAULT_ACCOUNT:
        raise Forbidden("only admins of the default account create organizations")
    name = _name(name)
    if not isinstance(admins, list) or not admins:
        raise Invalid("admins must be a non-empty list of email addresses")
    emails = sorted({_email(a) for a in admins})
    account_id = new_id("acct")
    with platform.db.session() as s:
        s.add(Account(id=account_id, name=name))
        s.flush()
        for email in emails:
            s.add(AccountMember(account_id=account_id, email=email, role="admin", pending_invite=True))
    return _load(platform, account_id)


def update(platform: Platform, principal: Principal, account_id: str, *, name: Any = None,
           members: Any = None) -> Organization:
    """Rename the organization; a ``members`` list replaces its members (emails and roles)."""
    _manageable(principal, account_id)
    new_name = _name(name) if name is not None else None
    wanted = _members(members) if members is not None else None
    with platform.db.session() as s:
        account = s.get(Account, account_id)
        if account is None:
            raise NotFound(f"organization {account_id!r} does not exist")
        if new_name is not None:
            account.name = new_name
        if wanted is not None:
            _replace_members(s, account_id, wanted)
    if wanted is not None:
        platform.key_cache.revoked()  # a removed member's keys stop working at once, in every server
    return _load(platform, account_id)


def _members(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        raise Invalid("members must be a list of {email, role}")
    wanted: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict):
            raise Invalid("members must be a list of {email, role}")
        wanted[_email(item.get("email"))] = _role(item.get("role") or "viewer")
    return wanted


def _replace_members(s: Any, account_id: str, wanted: dict[str, str]) -> None:
    current = {m.email: m for m in s.scalars(select(AccountMember).where(AccountMember.account_id == account_id))}
    for email, member in current.items():
        if email not in wanted:
            s.delete(member)
            _revoke_member_keys(s, account_id, email)
        elif member.role != wanted[email]:
            member.role = wanted[email]
            _revoke_member_keys(s, account_id, email)  # a key carries its role: a new role needs a new key
    for email, role in wanted.items():
        if email not in current:
            s.add(AccountMember(account_id=account_id, email=email, role=role, pending_invite=True))


def _revoke_member_keys(s: Any, account_id: str, email: str) -> None:
    s.execute(sql_update(ApiKey).where(ApiKey.account_id == account_id, ApiKey.member_email == email,
                                   ApiKey.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC)))


def add_member(platform: Platform, principal: Principal, account_id: str, *, email: Any, role: Any) -> Organization:
    """Invite one member (their invite pends until they get a key); an existing member gets the new role."""
    _manageable(principal, account_id)
    email, role = _email(email), _role(role)
    with platform.db.session() as s:
        if s.get(Account, account_id) is None:
            raise NotFound(f"organization {account_id!r} does not exist")
        member = s.get(AccountMember, (account_id, email))
        if member is None:
            s.add(AccountMember(account_id=account_id, email=email, role=role, pending_invite=True))
        elif member.role != role:
            member.role = role
            _revoke_member_keys(s, account_id, email)
    platform.key_cache.revoked()
    return _load(platform, account_id)


def remove_member(platform: Platform, principal: Principal, account_id: str, email: str) -> None:
    """Remove a member and revoke every key issued to them."""
    _manageable(principal, account_id)
    email = _email(email)
    with platform.db.session() as s:
        member = s.get(AccountMember, (account_id, email))
        if member is None:
            raise NotFound(f"{email!r} is not a member of organization {account_id!r}")
        s.delete(member)
        _revoke_member_keys(s, account_id, email)
    platform.key_cache.revoked()


def issue_member_key(platform: Platform, principal: Principal, account_id: str, email: str, *,
                     name: str = "") -> accounts.IssuedKey:
    """A key for a member, with the member's role; the member's invite is no longer pending."""
    _manageable(principal, account_id)
    email = _email(email)
    if not isinstance(name, str) or "\0" in name or len(name) > 256:
        raise Invalid("a key's name must be a string of at most 256 characters")
    with platform.db.session() as s:
        member = s.get(AccountMember, (account_id, email))
        if member is None:
            raise NotFound(f"{email!r} is not a member of organization {account_id!r}")
        role = member.role
    issued = accounts.create_key(platform.db, account_id, role=role, name=name or email, member_email=email)
    with platform.db.session() as s:
        s.execute(sql_update(AccountMember).where(AccountMember.account_id == account_id, AccountMember.email == email)
                  .values(pending_invite=False))
    return issued


def delete_organization(platform: Platform, principal: Principal, account_id: str) -> None:
    """Delete the account and everything it holds, blobs included (runs in flight are canceled first)."""
    _manageable(principal, account_id)
    if account_id == accounts.DEFAULT_ACCOUNT:
        raise Conflict("the default account cannot be deleted")
    with platform.db.session() as s:
        if s.get(Account, account_id) is None:
            raise NotFound(f"organization {account_id!r} does not exist")
        app_ids = list(s.scalars(select(Application.id).where(Application.account_id == account_id)))
    owner = Principal(account_id=account_id, key_id="organization-delete", role="admin")
    for app_id in app_ids:
        try:
            delete_app(platform, owner, app_id)
        except NotFound:
            pass  # deleted meanwhile by someone else
    with platform.db.session() as s:
        s.execute(delete(Event).where(Event.account_id == account_id))
        s.execute(delete(Run).where(Run.account_id == account_id))
        s.execute(delete(Account).where(Account.id == account_id))  # keys, members, webhooks cascade
    platform.key_cache.revoked()

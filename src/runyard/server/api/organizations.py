"""Organizations (O2–O5, the 1.13.0 SDK's ``Account`` calls) onto Runyard's accounts, plus members
and the keys an admin issues them (Runyard's own SDK and CLI)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.deps import PlatformDep, Viewer
from runyard.server.schemas.requests import Body
from runyard.services import organizations as orgs

router = APIRouter(prefix="/v1/organization", tags=["organizations"])
me = APIRouter(tags=["organizations"])


class OrganizationCreate(Body):
    name: Any = None
    admins: Any = None


class OrganizationUpdate(Body):
    """1.13.0 sends the whole organization back with ``name`` replaced; ``id`` is read-only."""

    name: Any = None
    members: Any = None


class MemberAdd(Body):
    email: Any = None
    role: Any = "viewer"


class MemberKeyCreate(Body):
    name: str = ""


def view(org: orgs.Organization) -> dict[str, Any]:
    members = [{"email": m.email, "role": m.role, "pending_invite": m.pending_invite} for m in org.members]
    return {"id": org.id, "name": org.name, "members": members}


@me.get("/v1/internal/me/organization")
def my_organizations(platform: PlatformDep, principal: Viewer) -> list[dict[str, Any]]:
    """The organizations of the caller (one: the key's account), as the 1.13.0 CLI's login asks."""
    org = orgs.get(platform, principal, principal.account_id)
    return [{"id": org.id, "name": org.name}]


@router.post("")
def create_organization(body: OrganizationCreate, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return view(orgs.create(platform, principal, name=body.name, admins=body.admins))


@router.get("/{account_id}")
def get_organization(account_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return view(orgs.get(platform, principal, account_id))


@router.put("/{account_id}")
def update_organization(account_id: str, body: OrganizationUpdate, platform: PlatformDep,
                        principal: Viewer) -> dict[str, Any]:
    return view(orgs.update(platform, principal, account_id, name=body.name, members=body.members))


@router.delete("/{account_id}", status_code=204)
def delete_organization(account_id: str, platform: PlatformDep, principal: Viewer) -> Response:
    orgs.delete_organization(platform, principal, account_id)
    return Response(status_code=204)


@router.post("/{account_id}/members")
def add_member(account_id: str, body: MemberAdd, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return view(orgs.add_member(platform, principal, account_id, email=body.email, role=body.role))


@router.delete("/{account_id}/members/{email}", status_code=204)
def remove_member(account_id: str, email: str, platform: PlatformDep, principal: Viewer) -> Response:
    orgs.remove_member(platform, principal, account_id, email)
    return Response(status_code=204)


@router.post("/{account_id}/members/{email}/keys")
def issue_member_key(account_id: str, email: str, body: MemberKeyCreate, platform: PlatformDep,
                     principal: Viewer) -> dict[str, Any]:
    issued = orgs.issue_member_key(platform, principal, account_id, email, name=body.name)
    return {"id": issued.id, "account_id": issued.account_id, "name": issued.name, "role": issued.role,
            "member_email": email.strip().lower(), "key": issued.key}

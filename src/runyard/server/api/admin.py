"""Accounts and API keys, for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.deps import Admin, PlatformDep
from runyard.server.schemas import requests as rq
from runyard.server.schemas.views import ts
from runyard.services import accounts

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/accounts")
def list_accounts(platform: PlatformDep, principal: Admin) -> list[dict[str, Any]]:
    rows = accounts.list_accounts(platform.db)
    if principal.account_id != accounts.DEFAULT_ACCOUNT:
        rows = [a for a in rows if a.id == principal.account_id]
    return [{"id": a.id, "name": a.name, "created_at": ts(a.created_at)} for a in rows]


@router.post("/accounts")
def create_account(body: rq.AccountCreate, platform: PlatformDep, principal: Admin) -> dict[str, Any]:
    accounts.may_manage(principal, accounts.DEFAULT_ACCOUNT)
    account = accounts.create_account(platform.db, body.name)
    return {"id": account.id, "name": account.name, "created_at": ts(account.created_at)}


@router.get("/accounts/{account_id}/keys")
def list_keys(account_id: str, platform: PlatformDep, principal: Admin) -> list[dict[str, Any]]:
    accounts.may_manage(principal, account_id)
    return [
        {"id": k.id, "account_id": k.account_id, "name": k.name, "role": k.role, "created_at": ts(k.created_at), "revoked_at": ts(k.revoked_at)}
        for k in accounts.list_keys(platform.db, account_id)
    ]


@router.post("/accounts/{account_id}/keys")
def create_key(account_id: str, body: rq.KeyCreate, platform: PlatformDep, principal: Admin) -> dict[str, Any]:
    accounts.may_manage(principal, account_id)
    issued = accounts.create_key(platform.db, account_id, role=body.role, name=body.name)
    return {"id": issued.id, "account_id": issued.account_id, "name": issued.name, "role": issued.role, "key": issued.key}


@router.delete("/accounts/{account_id}/keys/{key_id}", status_code=204)
def revoke_key(account_id: str, key_id: str, platform: PlatformDep, principal: Admin) -> Response:
    accounts.may_manage(principal, account_id)
    accounts.revoke_key(platform.db, key_id, account_id=account_id, cache=platform.key_cache)
    return Response(status_code=204)

"""Request dependencies as ``Annotated`` aliases: the platform, the caller, pagination."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from runyard.services import accounts
from runyard.services.platform import Platform, Principal

PAGE_SIZE = 50


# Every dependency here is ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, and
# those hops were a third of a small request's cost. Only a key not seen for a few seconds needs I/O.
async def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer …`` header value."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def authenticate(request: Request) -> Principal:
    platform: Platform = request.app.state.platform
    token = bearer_token(request.headers.get("authorization", ""))
    principal = accounts.authenticate_cached(platform, token)
    if principal is None:
        principal = await run_in_threadpool(accounts.authenticate, platform, token)
    request.state.principal = principal  # who made the call, for the audit log
    return principal


def role(minimum: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and requires at least ``minimum`` (one dependency, not a chain:
    each level of dependency solving costs as much as the query of a small request)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        accounts.require_role(principal, minimum)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(role("viewer"))]
Operator = Annotated[Principal, Depends(role("operator"))]
Developer = Annotated[Principal, Depends(role("developer"))]
Admin = Annotated[Principal, Depends(role("admin"))]


@dataclass
class Paging:
    """1.13.0 asks for pages with ``pagereturn=true``; without it the legacy unpaginated shape is wanted."""

    paginated: bool
    token: str | None

    @property
    def limit(self) -> int | None:
        return PAGE_SIZE if self.paginated else None


async def get_paging(pagereturn: Annotated[str | None, Query()] = None, pagetoken: Annotated[str | None, Query()] = None) -> Paging:
    return Paging(paginated=(pagereturn or "").lower() in ("true", "1", "yes"), token=pagetoken or None)


PagingDep = Annotated[Paging, Depends(get_paging)]


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON answer without FastAPI's response-model pass (the views already build plain JSON types)."""
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=status_code, media_type="application/json")


def base_url(request: Request) -> str:
    return str(request.base_url)

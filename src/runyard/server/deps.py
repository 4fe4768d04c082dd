"""Request dependencies as ``Annotated`` aliases: the platform, the caller, pagination."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from runyard.domain.errors import Forbidden
from runyard.services import accounts, console_sessions
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


SESSION_COOKIE = "runyard_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def authenticate(request: Request) -> Principal:
    platform: Platform = request.app.state.platform
    authorization = request.headers.get("authorization", "")
    if not authorization and (cookie := request.cookies.get(SESSION_COOKIE)):
        principal = await _session_principal(request, platform, cookie)
        request.state.principal = principal
        return principal
    token = bearer_token(authorization)
    principal = accounts.authenticate_cached(platform, token)
    if principal is None:
        principal = await run_in_threadpool(accounts.authenticate, platform, token)
    request.state.principal = principal  # who made the call, for the audit log
    return principal


async def _session_principal(request: Request, platform: Platform, cookie: str) -> Principal:
    """The console's cookie stands in for the key; a state-changing call must also prove it comes from
    the console's own page (its CSRF token, and its origin when the browser names one)."""
    session = await run_in_threadpool(console_sessions.find_session, platform, cookie)
    if request.method not in SAFE_METHODS:
        console_sessions.check_csrf(session, request.headers.get("x-csrf-token"))
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc not in _own_hosts(request, platform):
            raise Forbidden(f"a state-changing call with a console session must come from this server's own "
                            f"pages, not from {origin}")
    return session.principal


def _own_hosts(request: Request, platform: Platform) -> set[str]:
    hosts = {request.headers.get("host", "")}
    if platform.settings.public_url:
        hosts.add(urlsplit(platform.settings.public_url).netloc)
    return hosts


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

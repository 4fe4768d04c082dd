"""Request dependencies as ``Annotated`` aliases: the platform, the caller, pagination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from runyard.services import accounts
from runyard.services.platform import Platform, Principal

PAGE_SIZE = 50


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def get_principal(request: Request, platform: PlatformDep) -> Principal:
    principal = accounts.authenticate(platform, _bearer(request))
    request.state.principal = principal
    return principal


def role(minimum: str) -> Callable[..., Principal]:
    """A dependency that authenticates and requires at least ``minimum``."""

    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
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


def get_paging(pagereturn: Annotated[str | None, Query()] = None, pagetoken: Annotated[str | None, Query()] = None) -> Paging:
    return Paging(paginated=(pagereturn or "").lower() in ("true", "1", "yes"), token=pagetoken or None)


PagingDep = Annotated[Paging, Depends(get_paging)]


def base_url(request: Request) -> str:
    return str(request.base_url)

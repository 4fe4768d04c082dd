"""The web console's server side: sign-in sessions, its static files and the pages' URLs.

Every console URL (``/``, ``/apps``, ``/app/{app_id}/run/{run_id}?view=details``, …) answers the same
``index.html``; the browser's router draws the page from the public API. API paths are never shadowed.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from runyard import console
from runyard.domain.errors import NotFound, Unauthenticated
from runyard.server.deps import SESSION_COOKIE, PlatformDep, json_response
from runyard.services import console_sessions
from runyard.services.console_sessions import Session

router = APIRouter(tags=["console"])

# The pages the browser's router knows (js/routes.js); each answers index.html.
PAGES = ("/", "/sign-in", "/apps", "/app/{rest:path}", "/runs", "/queue", "/input-sets", "/input-sets/{rest:path}",
         "/experiments", "/experiments/{rest:path}", "/admin", "/admin/{rest:path}", "/webhooks",
         "/webhooks/{rest:path}")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
mimetypes.add_type("text/javascript", ".js")  # some systems map .js elsewhere; modules need a JS type


class SessionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    api_key: str = Field(min_length=1, max_length=512, description="An API key of the account to sign in to.")


def _view(session: Session) -> dict[str, Any]:
    p = session.principal
    return {"account_id": p.account_id, "role": p.role, "key_name": p.key_name or p.key_id,
            "csrf_token": session.csrf_token, "expires_at": _iso(session.expires_at)}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _cookie(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("not signed in to the console: POST /v1/console/session with an API key")
    return token


def _secure(request: Request, platform: Any) -> bool:
    public = platform.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https:")


@router.post("/v1/console/session")
async def sign_in(body: SessionBody, request: Request, platform: PlatformDep) -> Response:
    """Open a console session with an API key: sets the HttpOnly ``runyard_session`` cookie."""
    session = await run_in_threadpool(console_sessions.open_session, platform, body.api_key)
    response = json_response(_view(session), status_code=201)
    response.set_cookie(SESSION_COOKIE, session.token, max_age=platform.settings.console.session_seconds, path="/",
                        httponly=True, samesite="strict", secure=_secure(request, platform))
    return response


@router.get("/v1/console/session")
async def current_session(request: Request, platform: PlatformDep) -> Response:
    """The signed-in account, role, key name, CSRF token and expiry; 401 when not signed in."""
    session = await run_in_threadpool(console_sessions.find_session, platform, _cookie(request))
    return json_response(_view(session))


@router.delete("/v1/console/session", status_code=204)
async def sign_out(request: Request, platform: PlatformDep) -> Response:
    """End the console session (on every server) and clear its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            session = await run_in_threadpool(console_sessions.find_session, platform, token)
        except Unauthenticated:
            session = None  # already ended: clearing the cookie is all that is left to do
        if session is not None:
            console_sessions.check_csrf(session, request.headers.get("x-csrf-token"))
            await run_in_threadpool(console_sessions.close_session, platform, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request, platform))
    return response


@router.get("/ui/{version}/{path:path}", include_in_schema=False)
async def static_file(version: str, path: str) -> Response:
    """A console asset. Under the current version's prefix it never changes, so it is cached for good."""
    target = console.asset(path)
    if target is None or path == "index.html":
        raise NotFound(f"no console file {path!r}")
    immutable = version == console.asset_version()
    headers = {"Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache",
               "X-Content-Type-Options": "nosniff"}
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return Response(target.read_bytes(), media_type=media_type, headers=headers)


async def page() -> HTMLResponse:
    """The console's single page; the browser's router draws the view the URL names."""
    return HTMLResponse(console.index_html(), headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})


for _path in PAGES:
    router.add_api_route(_path, page, methods=["GET", "HEAD"], include_in_schema=False, response_class=HTMLResponse)

"""One table maps domain errors to HTTP; a 500 logs its traceback under a request id it returns."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from runyard.domain import errors
from runyard.services.signed import SignatureRejected

log = logging.getLogger("runyard.server")

STATUS: list[tuple[type[Exception], int]] = [
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (SignatureRejected, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.CapacityExhausted, 429),
    (errors.Invalid, 400),
    (errors.Unavailable, 503),
    (errors.NotAvailable, 501),
]


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = uuid.uuid4().hex
    return rid


def _body(request: Request, status: int, message: str) -> JSONResponse:
    headers = {"X-Request-Id": request_id(request)}
    if status in (429, 503):
        headers["Retry-After"] = "1"
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": message, "request_id": request_id(request)}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    for cls, status in STATUS:
        app.add_exception_handler(cls, lambda req, exc, status=status: _body(req, status, str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _body(request, 400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _body(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id(request)
        log.error("request %s %s failed (request id %s)", request.method, request.url.path, rid, exc_info=exc)
        return _body(request, 500, f"internal server error; request id {rid}")

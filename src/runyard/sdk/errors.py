"""Errors raised by the Runyard SDK: one class per HTTP status, each carrying the response.

Every status error is also a ``requests.HTTPError`` when ``requests`` is installed, so code written
for the official ``nextmv`` SDK (``except requests.HTTPError as e: e.response.status_code``) keeps
working unchanged. ``requests`` is not a dependency of the SDK.
"""

from __future__ import annotations

from typing import Any

import httpx

try:  # pragma: no cover - depends on the environment
    from requests import HTTPError as _HTTPErrorBase
except ImportError:  # pragma: no cover
    _HTTPErrorBase = Exception  # type: ignore[assignment,misc]

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunyardError",
    "UnprocessableEntityError",
    "status_error",
]


class RunyardError(Exception):
    """Base class of every error the Runyard SDK raises on purpose."""


class APIError(RunyardError):
    """A request to the API could not be completed."""


class APIConnectionError(APIError):
    """The server could not be reached (after retries)."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The server did not answer in time (after retries)."""


class APIStatusError(APIError, _HTTPErrorBase):  # type: ignore[misc,valid-type]
    """The server answered with a status of 400 or above."""

    status_code: int = 0

    def __init__(self, message: str, *, response: httpx.Response, body: Any = None) -> None:
        super().__init__(message)
        # Set after super(): requests' HTTPError.__init__ resets ``response`` to None.
        self.response = response
        self.request = response.request if _has_request(response) else None
        self.status_code = response.status_code
        self.body = body
        self.request_id: str | None = response.headers.get("x-request-id")
        self.error: str | None = body.get("error") if isinstance(body, dict) else None


class BadRequestError(APIStatusError):
    """400: the server refused the request as malformed or invalid."""

    status_code = 400


class AuthenticationError(APIStatusError):
    """401: the API key is missing, unknown or revoked."""

    status_code = 401


class PermissionDeniedError(APIStatusError):
    """403: the API key may not do this."""

    status_code = 403


class NotFoundError(APIStatusError):
    """404: the resource does not exist (or belongs to another account)."""

    status_code = 404


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's current state (e.g. the id is taken)."""

    status_code = 409


class PayloadTooLargeError(APIStatusError):
    """413: the request body is larger than the server accepts."""

    status_code = 413


class UnprocessableEntityError(APIStatusError):
    """422: the request is well formed but cannot be processed."""

    status_code = 422


class RateLimitError(APIStatusError):
    """429: too many requests, or no capacity left; retried automatically before this is raised."""

    status_code = 429


class InternalServerError(APIStatusError):
    """5xx: the server failed; ``request_id`` names the failure in the server's log."""

    status_code = 500


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when the response was built by hand
    except RuntimeError:
        return False
    return True


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text or None


def status_error(response: httpx.Response, endpoint: str) -> APIStatusError:
    """The typed error for an HTTP error response (the message reads as in the official SDK)."""
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    message = f"request to {endpoint} failed with status code {response.status_code} and message: {response.text}"
    return cls(message, response=response, body=_body(response))

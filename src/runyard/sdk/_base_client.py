"""The HTTP layer shared by the sync and async clients: one retry policy, one error mapping.

Everything that decides *whether* and *when* to retry lives in :class:`RetryPolicy`; the two send
loops (:func:`send_sync`, :func:`send_async`) only carry that decision out with their own sleep.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from runyard import __version__
from runyard.sdk.errors import APIConnectionError, APITimeoutError, status_error

USER_AGENT = f"runyard-sdk/{__version__}"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_PAYLOAD_SIZE = 500 * 1024 * 1024
"""Largest JSON body or data the client sends in one request (as the official SDK enforces)."""

def _json_default(obj: Any) -> str:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    raise TypeError(f"Type {type(obj)} not serializable")


def dumps_compact(obj: Any, json_configurations: dict[str, Any] | None = None) -> str:
    """Compact JSON as the Nextmv API expects it (datetimes as ISO 8601)."""
    options = dict(json_configurations or {})
    options.setdefault("default", _json_default)
    options.setdefault("separators", (",", ":"))
    return json.dumps(obj, **options)


def dumps_pretty(obj: Any, json_configurations: dict[str, Any] | None = None) -> str:
    """Indented JSON, for files and stdout."""
    options = dict(json_configurations or {})
    options.setdefault("default", _json_default)
    options.setdefault("indent", 2)
    return json.dumps(obj, **options)


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a request and how long to wait before doing so."""

    max_retries: int = 10
    backoff_factor: float = 1.0
    backoff_jitter: float = 0.1
    backoff_max: float = 60.0
    status_forcelist: frozenset[int] = frozenset({429, 503})
    allowed_methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "DELETE"})

    def delay(self, method: str, attempt: int, *, response: httpx.Response | None = None,
              error: Exception | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), or None to stop here."""
        if attempt > self.max_retries:
            return None
        if response is not None:
            if response.status_code not in self.status_forcelist or method not in self.allowed_methods:
                return None
            hinted = retry_after(response)
            if hinted is not None:
                return min(hinted, self.backoff_max)
        elif error is not None and not self._retryable_error(method, error):
            return None
        backoff = self.backoff_factor * 2 ** (attempt - 1) + random.uniform(0, self.backoff_jitter)
        return min(backoff, self.backoff_max)

    def _retryable_error(self, method: str, error: Exception) -> bool:
        # A refused connection never reached the server, so any method may go again; after a read
        # failure only methods that are safe to repeat (POSTs carry an Idempotency-Key) may.
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return True
        return isinstance(error, httpx.TransportError) and method in self.allowed_methods


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if present."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class PreparedRequest:
    """One logical request; retries resend it unchanged (same Idempotency-Key)."""

    method: str
    url: str
    endpoint: str
    headers: dict[str, str]
    content: Any = None
    params: dict[str, Any] | None = None
    timeout: float | None = None

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        content = self.content
        if hasattr(content, "seek"):
            content.seek(0)  # a file body is re-read on every attempt
        return client.build_request(self.method, self.url, headers=self.headers, content=content,
                                    params=self.params, timeout=self.timeout)


def prepare(*, base_url: str, method: str, endpoint: str, default_headers: dict[str, str],
            headers: dict[str, str] | None = None, payload: Any = None, data: Any = None,
            query_params: dict[str, Any] | None = None, json_configurations: dict[str, Any] | None = None,
            timeout: float | None = None) -> PreparedRequest:
    """Build a request the way the official SDK does: relative endpoints joined with ``urljoin``,
    a compact JSON body, and caller ``headers`` replacing the defaults (presigned URLs get no key)."""
    if payload is not None and data is not None:
        raise ValueError("cannot use both data and payload")
    method = method.upper()
    content: Any = data
    if payload is not None:
        if not isinstance(payload, dict | list):
            raise ValueError("payload must be a dictionary or a list")
        content = dumps_compact(payload, json_configurations)
    size = _size(content)
    if size is not None and size > MAX_PAYLOAD_SIZE:
        raise ValueError(f"payload size of {size} bytes exceeds the maximum allowed size of {MAX_PAYLOAD_SIZE} bytes")
    final_headers = dict(headers if headers is not None else default_headers)
    final_headers.setdefault("User-Agent", USER_AGENT)
    if method == "POST":
        final_headers.setdefault(IDEMPOTENCY_HEADER, uuid.uuid4().hex)
    params = {k: v for k, v in (query_params or {}).items() if v is not None} or None
    return PreparedRequest(method, urljoin(base_url, endpoint), endpoint, final_headers, content, params, timeout)


def _size(content: Any) -> int | None:
    if content is None:
        return None
    if isinstance(content, str):
        return len(content.encode("utf-8"))
    if isinstance(content, bytes | bytearray):
        return len(content)
    if hasattr(content, "seek") and hasattr(content, "tell"):
        content.seek(0, 2)
        size = content.tell()
        content.seek(0)
        return size
    return None


def _connection_error(request: PreparedRequest, error: httpx.TransportError) -> APIConnectionError:
    cls = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
    message = f"request to {request.endpoint} failed: {type(error).__name__}: {error}"
    return cls(message, request=error.request if _has_request(error) else None)


def _has_request(error: httpx.TransportError) -> bool:
    try:
        error.request  # noqa: B018
    except RuntimeError:
        return False
    return True


def _check(request: PreparedRequest, response: httpx.Response) -> httpx.Response:
    if response.is_error:
        response.read()
        raise status_error(response, request.endpoint)
    return response


def send_sync(client: httpx.Client, request: PreparedRequest, policy: RetryPolicy,
              sleep: Callable[[float], None] = time.sleep) -> httpx.Response:
    """Send ``request`` with ``policy``'s retries; a typed error for a final 4xx/5xx or network failure."""
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.send(request.build(client))
        except httpx.TransportError as exc:
            delay = policy.delay(request.method, attempt, error=exc)
            if delay is None:
                raise _connection_error(request, exc) from exc
        else:
            delay = policy.delay(request.method, attempt, response=response) if response.is_error else None
            if delay is None:
                return _check(request, response)
            response.close()
        sleep(delay)


async def send_async(client: httpx.AsyncClient, request: PreparedRequest, policy: RetryPolicy) -> httpx.Response:
    """The async twin of :func:`send_sync`, with the same policy."""
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await client.send(request.build(client))
        except httpx.TransportError as exc:
            delay = policy.delay(request.method, attempt, error=exc)
            if delay is None:
                raise _connection_error(request, exc) from exc
        else:
            delay = policy.delay(request.method, attempt, response=response) if response.is_error else None
            if delay is None:
                if response.is_error:
                    await response.aread()
                return _check(request, response)
            await response.aclose()
        await asyncio.sleep(delay)


def policy_from(*, max_retries: int, backoff_factor: float, backoff_jitter: float, backoff_max: float,
                status_forcelist: Sequence[int], allowed_methods: Sequence[str]) -> RetryPolicy:
    return RetryPolicy(max_retries, backoff_factor, backoff_jitter, backoff_max, frozenset(status_forcelist),
                       frozenset(m.upper() for m in allowed_methods))

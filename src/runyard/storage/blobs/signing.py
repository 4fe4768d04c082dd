"""HMAC-signed, expiring URLs that name exactly one object and one method."""

from __future__ import annotations

import hashlib
import hmac
import time


class SignedUrlError(Exception):
    """The signed URL is invalid or has expired."""


def _mac(secret: str, method: str, key: str, expires: int) -> str:
    msg = f"{method.upper()}\n{key}\n{expires}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, key: str, ttl_seconds: int, *, now: float | None = None) -> tuple[int, str]:
    """(expires, signature) for ``method`` on ``key`` valid ``ttl_seconds`` from now."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    return expires, _mac(secret, method, key, expires)


def verify(secret: str, method: str, key: str, expires: int, signature: str, *, now: float | None = None) -> None:
    """Raise ``SignedUrlError`` unless the signature matches and has not expired."""
    if not hmac.compare_digest(_mac(secret, method, key, expires), signature or ""):
        raise SignedUrlError("the URL signature does not match")
    if (time.time() if now is None else now) > expires:
        raise SignedUrlError("the signed URL has expired")

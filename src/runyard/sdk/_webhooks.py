"""Checking a webhook delivery in a receiver: either signature scheme Runyard sends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


class WebhookVerificationError(ValueError):
    """The delivery's signature does not verify with this secret (or is too old)."""


def _nextmv_ok(secret: str, body: bytes, header: str, now: float, tolerance: float) -> bool:
    t, sigs = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == "v1":
            sigs.append(value)
    if t is None or abs(now * 1000 - t) > tolerance * 1000:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in sigs)


def _standard_ok(secret: str, body: bytes, headers: Mapping[str, str], now: float, tolerance: float) -> bool:
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp", ""), headers.get("webhook-signature", "")
    if not msg_id or not ts.isdigit() or abs(now - int(ts)) > tolerance:
        return False
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = raw.encode()
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.partition(",")[2]) for s in sigs.split() if s.startswith("v1,"))


def verify_signature(body: bytes | str, headers: Mapping[str, str], secret: str, *, tolerance_seconds: float = 300.0) -> dict[str, Any]:
    """The delivery's JSON if its ``Nextmv-Signature`` or Standard Webhooks signature verifies with
    ``secret`` within ``tolerance_seconds``; ``WebhookVerificationError`` otherwise."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time()
    ok = ("nextmv-signature" in lower and _nextmv_ok(secret, raw, lower["nextmv-signature"], now, tolerance_seconds)) or (
        "webhook-signature" in lower and _standard_ok(secret, raw, lower, now, tolerance_seconds))
    if not ok:
        raise WebhookVerificationError()
    return json.loads(raw)

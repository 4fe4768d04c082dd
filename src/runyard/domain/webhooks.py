"""Webhooks as pure code: event types, the two signature schemes, the retry schedule, which addresses
a delivery may connect to, and which events a webhook's filters let through."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from runyard.domain.errors import Invalid

RUN_STATUS = "run.status"
EVENT_TYPES: dict[str, str] = {
    RUN_STATUS: "a run changed status (queued, running, succeeded, failed, canceled)",
    "version.pushed": "a version of an application was created",
    # Subscribable now; emitted by the experiment and ensemble services through services.events.emit.
    "experiment.status": "an experiment (batch, acceptance, scenario, shadow, switchback) started, completed or failed",
    "ensemble.winner": "an ensemble run chose its winning child run",
    "queue.wait": "a run has waited in the queue longer than RUNYARD_WEBHOOKS__QUEUE_WAIT_SECONDS",
}
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300  # how far a signature's timestamp may be from the receiver's clock


def new_secret() -> str:
    """A secret both schemes can use: Standard Webhooks reads the base64 after the prefix as its key,
    the Nextmv scheme uses the whole string."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def nextmv_signature(secrets_: Iterable[str], body: bytes, t_ms: int) -> str:
    """``Nextmv-Signature``: ``t=<unix ms>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``, one ``v1`` per
    secret. The current secret's comes last: a handler that keeps the last ``v1`` of a split header
    (as the product's example does) verifies with the secret it was set up with during an overlap."""
    message = f"{t_ms}.".encode() + body
    parts = [f"v1={hmac.new(s.encode(), message, hashlib.sha256).hexdigest()}" for s in secrets_]
    return ",".join([f"t={t_ms}", *parts])


def standard_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()


def standard_signature(secrets_: Iterable[str], msg_id: str, t_s: int, body: bytes) -> str:
    """``webhook-signature`` of Standard Webhooks: space-separated ``v1,<base64 HMAC>`` per secret."""
    message = f"{msg_id}.{t_s}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(standard_key(s), message, hashlib.sha256).digest()).decode()
                    for s in secrets_)


def verify_nextmv(secret: str, body: bytes, header: str, *, now_ms: int, tolerance_s: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within the tolerance."""
    t, sigs = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == "v1":
            sigs.append(value)
    if t is None or abs(now_ms - t) > tolerance_s * 1000:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in sigs)


# --- retries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 14
    base_seconds: float = 30.0
    cap_seconds: float = 6 * 3600.0
    max_retry_after_seconds: float = 24 * 3600.0

    def delay(self, attempts_made: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds before the next attempt after ``attempts_made`` failed ones: exponential, with jitter
        over the top quarter of each step (receivers that failed together do not all retry together,
        and each gap is still at least half again the one before), never less than ``Retry-After``."""
        step = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts_made - 1))
        delay = step * (0.75 + 0.25 * (rng or random).random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after_seconds))
        return delay


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --- targets ---------------------------------------------------------------------------------------

_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")}


class TargetRefused(Invalid):
    """the webhook's endpoint resolves to an address deliveries may not reach"""


def refusal(address: str, *, allow_loopback: bool, deny_private: bool) -> str | None:
    """Why a delivery may not connect to ``address``, or None if it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return f"{ip} is a cloud metadata address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a unicast address"
    if ip.is_loopback:
        return None if allow_loopback else f"{ip} is a loopback address (set RUNYARD_WEBHOOKS__ALLOW_LOOPBACK=true to allow)"
    if ip.is_private and deny_private:
        return f"{ip} is a private address (RUNYARD_WEBHOOKS__DENY_PRIVATE is set)"
    return None


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an endpoint URL; Invalid naming what is wrong."""
    if not isinstance(url, str) or not url:
        raise Invalid("endpoint_url is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Invalid(f"endpoint_url must be an http or https URL, not {url!r}")
    if not parts.hostname:
        raise Invalid(f"endpoint_url {url!r} has no host")
    if parts.username or parts.password:
        raise Invalid("endpoint_url must not carry credentials; use custom headers")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid(f"endpoint_url {url!r} has a bad port") from None
    return parts.scheme, parts.hostname, port


# --- filters ---------------------------------------------------------------------------------------

FILTER_KEYS = ("application_ids", "instance_ids", "statuses")


def parse_filters(raw: Any) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise Invalid("filters must be an object with application_ids, instance_ids and/or statuses")
    out: dict[str, list[str]] = {}
    for key, values in raw.items():
        if key not in FILTER_KEYS:
            raise Invalid(f"unknown filter {key!r}; known: {', '.join(FILTER_KEYS)}")
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise Invalid(f"filters.{key} must be a list of strings")
        if values:
            out[key] = list(values)
    return out


def parse_event_types(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise Invalid("event_types must be a non-empty list of event types")
    unknown = [t for t in raw if t not in EVENT_TYPES and t != "*"]
    if unknown:
        raise Invalid(f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(raw))


_RESERVED_HEADERS = {"content-type", "content-length", "host", "nextmv-signature", "webhook-id", "webhook-timestamp",
                     "webhook-signature", "user-agent", "transfer-encoding", "connection"}


def parse_headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise Invalid("headers must be an object of header names to string values")
    for name, value in raw.items():
        if not name or any(c in name for c in " :\r\n\t") or "\n" in value or "\r" in value:
            raise Invalid(f"header {name!r} is not a valid HTTP header")
        if name.lower() in _RESERVED_HEADERS:
            raise Invalid(f"header {name!r} is set by Runyard and cannot be overridden")
    return dict(raw)


def matches(event_types: list[str], filters: Mapping[str, list[str]], *, event_type: str, app_id: str,
            instance_id: str = "", status: str = "") -> bool:
    """Whether a webhook with these event types and filters wants this event."""
    if "*" not in event_types and event_type not in event_types:
        return False
    checks = (("application_ids", app_id), ("instance_ids", instance_id), ("statuses", status))
    return all(key not in filters or value in filters[key] for key, value in checks)

"""What an operator sees of each request: its latency in /metrics (by route template and status) and in a
``Server-Timing`` header, its request id on every log line written while it is served, and, for a
state-changing call, an audit event."""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.services import audit
from runyard.services.platform import Platform

log = logging.getLogger("runyard.server")
access = logging.getLogger("runyard.access")  # one line per request, at DEBUG (``runyard serve --log-level debug``)
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("runyard_request_id", default="")
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNMATCHED = "unmatched"  # a path no route knows: one label, whatever the path (no label per probe)


def route_template(scope: Scope) -> str:
    """The route a request matched, as its template (``/v1/applications/{app_id}/runs``)."""
    route = scope.get("route")
    return getattr(route, "path", None) or scope.get("runyard.route") or UNMATCHED


class Observe:
    """Plain ASGI middleware, inside ``RequestIds`` (whose id it carries into logs and the audit log)."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        token = request_id_var.set(state.get("request_id", ""))
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The server's own time to the response's head, for clients and benchmarks (P9) to read.
                timing = f"app;dur={(time.perf_counter() - started) * 1000:.2f}".encode()
                message["headers"] = [*message.get("headers", ()), (b"server-timing", timing)]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            seconds = time.perf_counter() - started
            metrics = self.platform.metrics
            if metrics is not None:
                metrics.http_latency.labels(scope["method"], route, str(status)).observe(seconds)
            if access.isEnabledFor(logging.DEBUG):
                access.debug("%s %s %d %.1f ms", scope["method"], scope["path"], status, seconds * 1000)
            principal = state.get("principal")
            if principal is not None and scope["method"] in _CHANGES:
                call = audit.Call(method=scope["method"], route=route, path=scope["path"], status=status,
                                  client=(scope.get("client") or ("",))[0] or "", request_id=state.get("request_id", ""))
                try:
                    await run_in_threadpool(audit.record, self.platform, principal, call)
                except Exception:  # noqa: BLE001 - the call has been answered; its audit event must not hide it
                    log.exception("could not write the audit event of %s %s", scope["method"], scope["path"])
            request_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id (when a request is being
    served) and the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime  # type: ignore[assignment]


def configure_logging(level: str, fmt: str) -> None:
    """The root logger for ``runyard serve``: plain text, or JSON lines with request ids."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

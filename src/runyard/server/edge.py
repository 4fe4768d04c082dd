"""The edge of the API: request bodies capped while they stream, and JSON held to the standard.

A body is read from ASGI ``receive`` chunk by chunk and counted; the moment it passes its cap the
request is answered 413 and nothing more is read, so a 200 MB body costs the server no more memory
than its cap. A JSON body within its cap is checked for what ``json.loads`` accepts but RFC 8259 does
not (``NaN``, ``Infinity``, numbers no double can hold): stored, such values would be served back
as JSON that strict parsers reject. Signed-URL uploads stream to the blob store and have their own
limit; they pass through untouched.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.services.signed import SIGNED_PREFIX

RUN_CREATE = re.compile(r"/v1/applications/([^/]+)/runs/?")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Cheap test for a body that may hold a non-standard value; only those are parsed a second time.
_SUSPECT = re.compile(rb"NaN|Infinity|[0-9][eE]|[0-9]{300}")
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|(-?(?:Infinity|NaN))|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)')


class _NonStandard(ValueError):
    pass


def _reject_constant(token: str) -> Any:
    raise _NonStandard(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _NonStandard(token)
    return value


def _finite_int(token: str) -> int:
    if len(token.lstrip("-")) > 308:  # past what a double holds: other parsers overflow or lose it
        raise _NonStandard(token)
    return int(token)


def _out_of_range(number: str) -> bool:
    if any(c in number for c in ".eE"):
        return math.isinf(float(number))
    return len(number.lstrip("-")) > 308


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line} column {column} (char {index})"


def strict_json_problem(body: bytes) -> str | None:
    """Why ``body`` is not standard JSON (a ``NaN``, an ``Infinity``, an out-of-range number) and
    where, or ``None``. Malformed JSON is left to the framework's own error."""
    if not _SUSPECT.search(body):
        return None
    try:
        json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_finite_int)
        return None
    except _NonStandard:
        pass
    except ValueError:
        return None
    text = body.decode("utf-8", errors="replace")
    for match in _TOKENS.finditer(text):
        if match.group(1):
            return f"invalid JSON: {match.group(1)} at {_position(text, match.start())} is not a JSON value"
        if match.group(2) and _out_of_range(match.group(2)):
            shown = match.group(2) if len(match.group(2)) <= 40 else match.group(2)[:37] + "..."
            return f"invalid JSON: the number {shown} at {_position(text, match.start())} is out of range"
    return "invalid JSON: a value is not standard JSON"


def _is_json(scope: Scope) -> bool:
    ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"").lower()
    return not ctype or b"json" in ctype


class BodyLimits:
    """Plain ASGI middleware: caps and checks the body of every request that has one."""

    def __init__(self, app: ASGIApp, *, inline_input_max_bytes: int, json_body_max_bytes: int) -> None:
        self.app = app
        self.inline_input_max = inline_input_max_bytes
        self.json_max = json_body_max_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if scope["method"] == "POST" and (match := RUN_CREATE.fullmatch(scope["path"])) is not None:
            hint = (f"; send larger inputs through an upload URL: POST /v1/applications/{match.group(1)}"
                    "/runs/uploadurl, PUT the input to its upload_url, then create the run with its upload_id")
            return self.inline_input_max, f"an inline run input is limited to {self.inline_input_max} bytes{hint}"
        return self.json_max, f"a request body is limited to {self.json_max} bytes (limits.json_body_max_bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or scope["path"].startswith(SIGNED_PREFIX):
            await self.app(scope, receive, send)
            return
        limit, message = self._limit(scope)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer(scope, send, 413, message)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(scope, send, 413, message)
                return
            if chunk:
                parts.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(parts)
        del parts
        if body and _is_json(scope) and (problem := strict_json_problem(body)) is not None:
            await _answer(scope, send, 400, problem)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # a disconnect, when the client goes

    return replayed


async def _answer(scope: Scope, send: Send, status: int, message: str) -> None:
    rid = scope.get("state", {}).get("request_id", "")
    payload = json.dumps({"error": message, "request_id": rid}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is never read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

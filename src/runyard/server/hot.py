"""The poll path without the framework: ``GET …/runs/{run_id}/metadata``.

Every client that waits for a run polls this endpoint (the official SDKs do nothing else while they
wait), so it is answered by a few lines of plain ASGI in front of FastAPI: a cached key, one prepared
query, one JSON encoding. Anything out of the ordinary (a query string such as ``?wait=``, a key not
seen in the last few seconds, a missing run, any error) falls through to the full stack, which
answers it exactly as it answers every other request, so the two paths cannot disagree on an error.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from runyard.domain.errors import RunyardError
from runyard.server.deps import bearer_token
from runyard.server.schemas import views
from runyard.services import accounts, runs
from runyard.services.platform import Platform, point_read

METADATA = re.compile(r"/v1/applications/([^/]+)/runs/([^/]+)/metadata")
_HEADERS = [(b"content-type", b"application/json")]


class HotPaths:
    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = METADATA.fullmatch(scope["path"])
            if match is not None:
                body = await self._metadata(scope, match.group(1), match.group(2))
                if body is not None:
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _metadata(self, scope: Scope, app_id: str, run_id: str) -> bytes | None:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        token = bearer_token(header.decode("latin-1"))
        try:
            principal = accounts.authenticate_cached(self.platform, token)
            if principal is None:
                return None
            run = await point_read(self.platform, runs.get_run, self.platform, principal, app_id, run_id)
        except RunyardError:
            return None  # the full stack answers it, with its error body and status
        return json.dumps(views.run_information(run), separators=(",", ":")).encode()


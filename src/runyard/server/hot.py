"""The poll paths without the framework: ``GET …/runs/{run_id}/metadata`` and
``GET …/experiments/batch/{id}[/metadata]``.

Every client that waits for a run or an experiment polls these endpoints (the official SDKs do nothing
else while they wait), so they are answered by a few lines of plain ASGI in front of FastAPI: a cached
key, prepared queries, one JSON encoding. Anything out of the ordinary (a query string such as ``?wait=``, a key not
seen in the last few seconds, a missing run, an experiment due to complete, any error) falls through
to the full stack, which answers it exactly as it answers every other request, so the two paths
cannot disagree on an error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from runyard.domain.errors import RunyardError
from runyard.server.deps import bearer_token
from runyard.server.schemas import experiments as ev
from runyard.server.schemas import views
from runyard.services import accounts, experiments
from runyard.services.platform import Platform, Principal, point_read, reads_on_loop
from runyard.services.runs.reads import get_run

METADATA = re.compile(r"/v1/applications/([^/]+)/runs/([^/]+)/metadata")
BATCH = re.compile(r"/v1/applications/([^/]+)/experiments/batch/([^/]+)(/metadata)?")
_HEADERS = [(b"content-type", b"application/json")]
_TEMPLATES = {METADATA: "/v1/applications/{app_id}/runs/{run_id}/metadata",
              BATCH: "/v1/applications/{app_id}/experiments/batch/{batch_id}"}


_ENCODED_KEPT = 256  # bodies kept for the rows last answered (see ``_metadata``)


class HotPaths:
    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        # Equal reads that met share one row object (``LoopReads.fetch_shared``): its body is encoded once.
        # Keyed by the row's identity and holding the row, so a new read's row is always encoded anew.
        self._encoded: dict[int, tuple[Any, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            body = None
            if (match := METADATA.fullmatch(scope["path"])) is not None:
                body = await self._metadata(scope, match.group(1), match.group(2))
            elif (match := BATCH.fullmatch(scope["path"])) is not None:
                body = await self._batch(scope, match.group(1), match.group(2), metadata=match.group(3) is not None)
            if body is not None:
                scope["runyard.route"] = _TEMPLATES[match.re]  # for /metrics: the full stack's route template
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _principal(self, scope: Scope) -> Principal | None:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        return accounts.authenticate_cached(self.platform, bearer_token(header.decode("latin-1")))

    async def _metadata(self, scope: Scope, app_id: str, run_id: str) -> bytes | None:
        try:
            principal = self._principal(scope)
            if principal is None:
                return None
            run = await point_read(self.platform, get_run, self.platform, principal, app_id, run_id)
        except RunyardError:
            return None  # the full stack answers it, with its error body and status
        kept = self._encoded.get(id(run))
        if kept is not None and kept[0] is run:
            return kept[1]
        body = _json(views.run_information(run))
        if len(self._encoded) >= _ENCODED_KEPT:
            self._encoded.clear()
        self._encoded[id(run)] = (run, body)
        return body

    async def _batch(self, scope: Scope, app_id: str, exp_id: str, *, metadata: bool) -> bytes | None:
        try:
            principal = self._principal(scope)
            if principal is None:
                return None
            found = await point_read(self.platform, _peek_batch, self.platform, principal, app_id, exp_id)
        except RunyardError:
            return None
        if found is None:  # its last run has ended: the full stack completes it
            return None
        exp, counts = found
        return _json(ev.batch_metadata(exp, counts, app_id) if metadata else ev.batch(exp, counts, app_id))


@reads_on_loop(experiments.peek_batch_on_loop)  # (its reads on the event loop, on PostgreSQL)
def _peek_batch(platform: Platform, principal: Principal, app_id: str, exp_id: str) -> Any:
    return experiments.peek_batch(platform, principal, app_id, exp_id, complete=False)


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


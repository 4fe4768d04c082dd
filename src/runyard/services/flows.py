"""A decision workflow's flow graph: written by its runner (nextpipe) while it runs, read back by anyone."""

from __future__ import annotations

import json
import math
from typing import Any

from runyard.domain.errors import Invalid, NotFound
from runyard.services.blob_keys import flow_key
from runyard.services.platform import Platform, Principal
from runyard.services.runs.reads import get_run
from runyard.storage.blobs import BlobNotFound

MAX_FLOW_BYTES = 5 * 1024 * 1024


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def _finite(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{token} is out of range")
    return value


def put_flow(platform: Platform, principal: Principal, app_id: str, run_id: str, body: bytes) -> None:
    """Store the run's flow graph (a JSON document), replacing the previous one."""
    get_run(platform, principal, app_id, run_id)  # the caller's run, or NotFound
    if len(body) > MAX_FLOW_BYTES:
        raise Invalid(f"a flow graph may be at most {MAX_FLOW_BYTES} bytes")
    if not body.strip():
        raise Invalid("the flow graph is empty: send it as a JSON document")
    try:
        json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except ValueError:
        raise Invalid("the flow graph must be a standard JSON document (no NaN or Infinity)") from None
    platform.blobs.put_bytes(flow_key(run_id), body)


def get_flow(platform: Platform, principal: Principal, app_id: str, run_id: str) -> Any:
    get_run(platform, principal, app_id, run_id)
    try:
        return json.loads(platform.blobs.get_bytes(flow_key(run_id)))
    except BlobNotFound:
        raise NotFound(f"run {run_id!r} has no flow graph") from None

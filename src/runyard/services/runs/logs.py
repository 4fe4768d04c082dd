"""Run logs: one JSON record per line in a blob, appended by the runner, read whole or from an offset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from runyard.domain.errors import Invalid
from runyard.execution.contract import log_record
from runyard.services.blob_keys import log_key
from runyard.services.platform import Platform, Principal
from runyard.services.runs.reads import get_run


def append_log(platform: Platform, run_id: str, line: str, *, at: datetime | None = None) -> None:
    """One line of the platform's own (a lost run, a requeue) in the run's log; the runtime writes the rest."""
    platform.blobs.append(log_key(run_id), log_record(line, at))


def iter_log_records(platform: Platform, run_id: str) -> Iterator[dict[str, str]]:
    key = log_key(run_id)
    if not platform.blobs.exists(key):
        return
    with platform.blobs.open(key) as f:
        for raw in f:
            try:
                yield json.loads(raw)
            except ValueError:
                continue


def log_text(platform: Platform, run_id: str) -> str:
    return "\n".join(r.get("l", "") for r in iter_log_records(platform, run_id))


@dataclass
class LogPage:
    records: list[dict[str, str]]
    next_token: str
    status: str


MAX_OFFSET = 2**53  # far past any log, and a value every JSON client reads exactly


def _offset(since: str | None) -> int:
    """The byte offset a ``since`` token names; ``Invalid`` for anything else (negative, huge, not a number)."""
    if not since:
        return 0
    if not (since.isascii() and since.isdigit()) or int(since) > MAX_OFFSET:
        raise Invalid(f"since must be a token returned as next_page_token (a whole number from 0 to {MAX_OFFSET})")
    return int(since)


def live_logs(platform: Platform, principal: Principal, app_id: str, run_id: str, since: str | None, max_bytes: int = 1024 * 1024) -> LogPage:
    """Log lines written after ``since`` (a byte offset token), with the run's status read first."""
    run = get_run(platform, principal, app_id, run_id)
    offset = _offset(since)
    key = log_key(run_id)
    records: list[dict[str, str]] = []
    if platform.blobs.exists(key):
        with platform.blobs.open(key) as f:
            f.seek(offset)
            data = f.read(max_bytes)
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        for raw in complete.splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            records.append({"timestamp": rec.get("t", ""), "log": rec.get("l", "")})
    return LogPage(records=records, next_token=str(offset), status=run.status)

"""The janitor: uploads nobody used, bundles never activated, and ended runs past their application's
retention policy are removed, rows and blobs alike.

Every rule is a condition on rows the database holds, so several servers may sweep at once: a row is
removed by one statement, and its blobs only by the sweep that removed it. Runs of an experiment are
kept while the experiment exists (its results are computed from them).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select

from runyard.domain.errors import Invalid
from runyard.domain.runs import RunStatus
from runyard.services import accounts, events
from runyard.services.apps import load_app
from runyard.services.blob_keys import run_prefix
from runyard.services.platform import Platform, Principal
from runyard.storage.blobs import BlobInfo
from runyard.storage.db import (
    Application,
    Bundle,
    Event,
    Experiment,
    ManagedInput,
    Run,
    Upload,
    WebhookAttempt,
    WebhookDelivery,
)

log = logging.getLogger("runyard.janitor")
BATCH = 500
ENDED = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value, RunStatus.CANCELED.value)
MAX_KEEP = 10**6  # days or runs; more is "keep everything", which is no policy


@dataclass
class Sweep:
    """What one sweep removed."""

    uploads: int = 0
    bundles: int = 0
    runs: int = 0
    bytes: int = 0  # as recorded in the rows removed, plus the orphans' sizes
    orphans: int = 0  # objects of the blob store no row refers to
    events: int = 0
    deliveries: int = 0

    def add(self, other: Sweep) -> None:
        self.uploads += other.uploads
        self.bundles += other.bundles
        self.runs += other.runs
        self.bytes += other.bytes
        self.orphans += other.orphans
        self.events += other.events
        self.deliveries += other.deliveries

    def any(self) -> bool:
        return bool(self.uploads or self.bundles or self.runs or self.events or self.deliveries)


# --- retention policies ------------------------------------------------------------------------

def _checked_policy(keep_days: Any, keep_last: Any) -> dict[str, int]:
    policy: dict[str, int] = {}
    for name, value in (("keep_days", keep_days), ("keep_last", keep_last)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_KEEP:
            raise Invalid(f"{name} must be a whole number from 1 to {MAX_KEEP}, or null")
        policy[name] = value
    return policy


def get_retention(platform: Platform, principal: Principal, app_id: str) -> dict[str, int | None]:
    with platform.db.session() as s:
        policy = load_app(s, principal, app_id).retention or {}
    return {"keep_days": policy.get("keep_days"), "keep_last": policy.get("keep_last")}


def set_retention(platform: Platform, principal: Principal, app_id: str, *, keep_days: Any, keep_last: Any) -> dict[str, int | None]:
    """Keep ended runs for ``keep_days`` days and/or only the last ``keep_last`` of them (null: no limit)."""
    accounts.require_role(principal, "developer")
    policy = _checked_policy(keep_days, keep_last)
    with platform.db.session() as s:
        load_app(s, principal, app_id).retention = policy or None
    return {"keep_days": policy.get("keep_days"), "keep_last": policy.get("keep_last")}


# --- the sweep ---------------------------------------------------------------------------------

def sweep(platform: Platform, *, now: datetime | None = None) -> Sweep:
    """One pass of every rule; ``now`` is the clock (tests move it)."""
    now = now or datetime.now(UTC)
    done = Sweep()
    done.add(_uploads(platform, now))
    done.add(_bundles(platform, now))
    done.add(_runs(platform, now))
    done.add(_events(platform, now))
    if done.any():
        log.info("janitor removed %d uploads, %d bundles, %d runs (%d bytes), %d events, %d webhook deliveries",
                 done.uploads, done.bundles, done.runs, done.bytes, done.events, done.deliveries)
    return done


def _events(platform: Platform, now: datetime) -> Sweep:
    """Outbox events every webhook has had (fanned out), and deliveries that ended, past the retention.
    The highest event id removed is recorded: a stream asked to resume from before it answers 410."""
    keep = platform.settings.janitor.event_retention_seconds
    done = Sweep()
    if keep <= 0:
        return done
    cutoff = now - timedelta(seconds=keep)
    with platform.db.session() as s:
        # The newest event always stays: SQLite gives a new row max(id) + 1, so an emptied outbox would
        # hand out ids again from 1 and a stream's Last-Event-ID would point into the new events.
        newest = select(func.max(Event.id)).scalar_subquery()
        old = (select(Event.id).where(Event.fanned_out.is_(True), Event.created_at < cutoff, Event.id < newest)
               .order_by(Event.id).limit(BATCH))
        ids = list(s.scalars(old))
        if ids:
            s.execute(delete(Event).where(Event.id.in_(ids)))
            events.raise_pruned_through(s, max(ids))
            done.events = len(ids)
    with platform.db.session() as s:
        ended = (select(WebhookDelivery.id).where(WebhookDelivery.state.in_(("succeeded", "failed")),
                                                  WebhookDelivery.finished_at < cutoff).limit(BATCH))
        ids = list(s.scalars(ended))
        if ids:
            s.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
            s.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
            done.deliveries = len(ids)
    return done


def _uploads(platform: Platform, now: datetime) -> Sweep:
    """Slots never filled once their URL expired; filled ones no run uses, a while after that."""
    grace = timedelta(seconds=platform.settings.janitor.abandoned_upload_seconds)
    used = exists().where(Run.input_key == Upload.blob_key)
    stale = now - timedelta(seconds=platform.settings.limits.upload_claim_stale_seconds)
    unclaimed = or_(Upload.claimed_at.is_(None), Upload.claimed_at < stale)  # a stale claim's server died
    rule = or_(and_(Upload.received_at.is_(None), unclaimed, Upload.expires_at < now),
               and_(Upload.expires_at < now - grace, ~used))
    done = Sweep()
    with platform.db.session() as s:
        rows = s.execute(select(Upload.id, Upload.blob_key, Upload.size).where(rule).limit(BATCH)).all()
        if rows:
            s.execute(delete(Upload).where(Upload.id.in_([r.id for r in rows]), rule))
    for row in rows:
        platform.blobs.delete_prefix(row.blob_key)
        done.uploads += 1
        done.bytes += row.size or 0
    return done


def _bundles(platform: Platform, now: datetime) -> Sweep:
    """Bundles never activated (rejected, abandoned, or their URL never used), after a grace period."""
    cutoff = now - timedelta(seconds=platform.settings.janitor.pending_bundle_seconds)
    rule = and_(Bundle.status != "active", Bundle.created_at < cutoff)
    done = Sweep()
    with platform.db.session() as s:
        rows = s.execute(select(Bundle.id, Bundle.blob_key, Bundle.size).where(rule).limit(BATCH)).all()
        if rows:
            s.execute(delete(Bundle).where(Bundle.id.in_([r.id for r in rows]), rule))
    for row in rows:
        platform.blobs.delete_prefix(row.blob_key)
        done.bundles += 1
        done.bytes += row.size or 0
    return done


def _runs(platform: Platform, now: datetime) -> Sweep:
    done = Sweep()
    with platform.db.session() as s:
        apps = s.execute(select(Application.pk, Application.retention).where(Application.retention.is_not(None))).all()
    for app_pk, policy in apps:
        if policy:
            done.add(_apply_retention(platform, app_pk, policy, now))
    return done


def _apply_retention(platform: Platform, app_pk: int, policy: dict[str, Any], now: datetime) -> Sweep:
    in_live_experiment = exists().where(Experiment.app_pk == Run.app_pk, Experiment.id == Run.experiment_id)
    removable = and_(Run.app_pk == app_pk, Run.status.in_(ENDED), or_(Run.experiment_id.is_(None), ~in_live_experiment))
    expired = []
    if policy.get("keep_days"):
        expired.append(Run.created_at < now - timedelta(days=int(policy["keep_days"])))
    done = Sweep()
    with platform.db.session() as s:
        if policy.get("keep_last"):
            newest = (select(Run.id).where(Run.app_pk == app_pk, Run.status.in_(ENDED))
                      .order_by(Run.created_at.desc(), Run.id.desc()).limit(int(policy["keep_last"])))
            expired.append(Run.id.not_in(newest.scalar_subquery()))
        if not expired:
            return done
        rule = and_(removable, or_(*expired))
        rows = s.execute(select(Run.id, Run.input_size, Run.output_size, Run.input_key).where(rule).limit(BATCH)).all()
        if rows:
            s.execute(delete(Run).where(Run.id.in_([r.id for r in rows]), rule))
    for row in rows:
        platform.blobs.delete_prefix(run_prefix(row.id))  # an uploaded input is the upload's: the upload rule frees it
        done.runs += 1
        done.bytes += (row.output_size or 0) + (row.input_size if row.input_key == f"{run_prefix(row.id)}input" else 0)
    return done


def sweep_all(platform: Platform, *, now: datetime | None = None) -> Sweep:
    """Sweeps until a pass removes nothing (each removes at most ``BATCH`` rows of a kind)."""
    total = Sweep()
    while True:
        done = sweep(platform, now=now)
        total.add(done)
        if not done.any():
            return total


def run_now(platform: Platform, principal: Principal) -> Sweep:
    """A sweep on request, the scan for orphaned objects included (admins of the default account: it
    spans every account)."""
    accounts.may_manage(principal, accounts.DEFAULT_ACCOUNT)
    done = sweep_all(platform)
    done.add(scan_orphans(platform))
    return done


# --- objects no row refers to ------------------------------------------------------------------
# A crash between writing an object and recording it, or between removing a row and its blobs, leaves
# an object nothing refers to. The scan lists the store and removes what no row owns, once it is older
# than ``orphan_grace_seconds`` (every write in flight is younger). Keys it does not recognise are left.

TEMP_PREFIX = ".tmp-"  # a filesystem writer's temp file, left by a process that died mid-write


def scan_orphans(platform: Platform, *, now: datetime | None = None) -> Sweep:
    """One pass over the whole store; what it removed."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=platform.settings.janitor.orphan_grace_seconds)
    done = Sweep()
    batch: list[BlobInfo] = []
    for info in platform.blobs.list_keys():
        if info.modified < cutoff:
            batch.append(info)
        if len(batch) >= BATCH:
            done.add(_remove_orphans(platform, batch))
            batch = []
    if batch:
        done.add(_remove_orphans(platform, batch))
    if done.orphans:
        log.info("janitor removed %d objects no row refers to (%d bytes)", done.orphans, done.bytes)
    return done


def _owner(key: str) -> tuple[str, str] | None:
    """(kind, id) of the row that owns ``key``, or ``None`` for a key the scan does not know."""
    parts = key.split("/")
    if parts[-1].startswith(TEMP_PREFIX):
        return ("temp", key)
    if parts[0] == "runs" and len(parts) >= 3:
        return ("run", parts[1])
    if parts[0] == "uploads" and len(parts) == 2:
        return ("upload", parts[1].split(".")[0])  # the landing key or its sealed copy
    if parts[0] == "apps" and len(parts) >= 3 and parts[1].isdigit():
        if parts[2] == "bundles" and len(parts) == 4:
            return ("bundle", parts[3].split(".")[0])
        if parts[2] == "inputs" and len(parts) == 4:
            return ("input", key)
        return ("app", parts[1])
    return None


def _remove_orphans(platform: Platform, infos: list[BlobInfo]) -> Sweep:
    owners = {info.key: _owner(info.key) for info in infos}
    wanted: dict[str, set[str]] = {}
    for owner in owners.values():
        if owner is not None:
            wanted.setdefault(owner[0], set()).add(owner[1])
    alive: dict[str, set[str]] = {"temp": set()}
    with platform.db.session() as s:
        for kind, column in (("run", Run.id), ("upload", Upload.id), ("bundle", Bundle.id)):
            if kind in wanted:
                alive[kind] = set(s.scalars(select(column).where(column.in_(wanted[kind]))))
        if "app" in wanted:
            alive["app"] = {str(pk) for pk in s.scalars(select(Application.pk).where(Application.pk.in_([int(p) for p in wanted["app"]])))}
        if "input" in wanted:
            keys = s.scalars(select(ManagedInput.blob_key).where(or_(*(ManagedInput.blob_key.startswith(k) for k in wanted["input"])))).all()
            alive["input"] = {k for k in wanted["input"] for used in keys if used == k or used.startswith(k + "#")}
    done = Sweep()
    for info in infos:
        owner = owners[info.key]
        if owner is None or owner[1] in alive.get(owner[0], set()):
            continue
        platform.blobs.delete(info.key)
        done.orphans += 1
        done.bytes += info.size
    return done


class Janitor:
    """Sweeps every ``interval_seconds`` in a daemon thread."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        interval = self._platform.settings.janitor.interval_seconds
        if interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="runyard-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self, interval: float) -> None:
        every = self._platform.settings.janitor.orphan_scan_seconds
        scanned = time.monotonic()
        while not self._stop.wait(interval):
            try:
                sweep_all(self._platform)
                if every > 0 and time.monotonic() - scanned >= every:
                    scanned = time.monotonic()
                    scan_orphans(self._platform)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("janitor sweep failed")


def counted(done: Sweep) -> dict[str, int]:
    return {"uploads": done.uploads, "bundles": done.bundles, "runs": done.runs, "bytes": done.bytes,
            "orphans": done.orphans, "events": done.events, "webhook_deliveries": done.deliveries}


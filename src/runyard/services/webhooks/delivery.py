"""The delivery worker: outbox events fanned out to the webhooks that want them, then POSTed, signed,
retried with backoff, logged.

Each step is a short transaction, so several servers can share the work on one PostgreSQL:
events are fanned out under ``FOR UPDATE SKIP LOCKED`` (each once), and a delivery is leased for the
length of one attempt before it is made (each attempt once). A run never waits for any of it: the
only cost a status change pays is its outbox row.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from runyard import __version__
from runyard.domain import webhooks as wh
from runyard.domain.errors import Conflict
from runyard.domain.ids import new_id
from runyard.domain.webhooks import RetryPolicy, TargetRefused
from runyard.services import experiments
from runyard.services.events import emit, run_status_data
from runyard.services.platform import Platform
from runyard.services.webhooks.manage import attempt_count, event_body, signing_secrets
from runyard.services.webhooks.targets import Resolver, check_target, system_resolve
from runyard.storage.db import Event, Run, Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)
_D, _W = WebhookDelivery.__table__, Webhook.__table__
_EARLIER = _D.alias("earlier")
FAN_OUT_BATCH = 500
EXCERPT_BYTES = 1024
LEASE_MARGIN_SECONDS = 30.0
QUEUE_SCAN_SECONDS = 5.0
STOP_GRACE_SECONDS = 3.0
_E, _R, _A = Event.__table__, Run.__table__, WebhookAttempt.__table__
# Due deliveries with what an attempt needs of their webhook. A delivery waits while an earlier one of
# the same run (subject) to the same webhook is pending: a receiver gets a run's events in order.
_CLAIMED_COLUMNS = (_D.c.id, _D.c.webhook_pk, _D.c.subject, _D.c.body, _W.c.endpoint_url, _W.c.headers, _W.c.secret,
                    _W.c.previous_secret, _W.c.previous_secret_expires_at)
_DUE = (
    select(*_CLAIMED_COLUMNS)
    .join(_W, _W.c.pk == _D.c.webhook_pk)
    .where(_D.c.state == "pending", _D.c.next_attempt_at <= bindparam("now", type_=_D.c.next_attempt_at.type),
           or_(_D.c.lease_expires_at.is_(None), _D.c.lease_expires_at < bindparam("now", type_=_D.c.next_attempt_at.type)),
           _W.c.status == "enabled",
           ~exists().where(_EARLIER.c.webhook_pk == _D.c.webhook_pk, _EARLIER.c.subject == _D.c.subject,
                           _EARLIER.c.subject != "", _EARLIER.c.state == "pending", _EARLIER.c.event_id < _D.c.event_id))
    .order_by(_D.c.next_attempt_at, _D.c.event_id)
    .limit(bindparam("n"))
    .with_for_update(skip_locked=True, of=_D)
)
# After a success, the run's next delivery to the same webhook, if it is the earliest still pending: the
# attempt that just ended sends it at once, in its own thread and slot (a run's events come in bursts:
# queued, running, succeeded within milliseconds, and each had waited for the one before to be recorded
# and for the next round of the loop).
_NEXT_OF_SUBJECT = (
    select(*_CLAIMED_COLUMNS, _D.c.next_attempt_at, _D.c.lease_expires_at)
    .join(_W, _W.c.pk == _D.c.webhook_pk)
    .where(_D.c.webhook_pk == bindparam("pk"), _D.c.subject == bindparam("subject"), _D.c.state == "pending",
           _W.c.status == "enabled")
    .order_by(_D.c.event_id).limit(1)
    .with_for_update(skip_locked=True, of=_D)
)
_ENDED = ("succeeded", "failed", "canceled")
# The fan-out's statements, built once.
_PENDING_EVENTS = (select(_E.c.id, _E.c.account_id, _E.c.type, _E.c.subject, _E.c.app_id, _E.c.detail, _E.c.body,
                          _E.c.created_at)
                   .where(_E.c.fanned_out.is_(False)).order_by(_E.c.id).limit(bindparam("n"))
                   .with_for_update(skip_locked=True))
_HOOKS_OF = select(_W.c.pk, _W.c.account_id, _W.c.event_types, _W.c.filters).where(
    _W.c.account_id.in_(bindparam("accounts", expanding=True)), _W.c.status == "enabled")
_RUNS_OF = select(*(_R.c[n] for n in ("id", "app_pk", "app_id", "instance_id", "version_id", "status", "error", "created_at",
                                      "started_at", "finished_at", "duration_ms", "experiment_id"))).where(
    _R.c.id.in_(bindparam("ids", expanding=True)))
# The per-endpoint cap holds across servers: the webhooks a claim would lease for are locked (in pk order,
# so two claims never deadlock), then their deliveries under a live lease, whichever server holds it, are
# counted; a second server's claim waits for the first's to commit and counts what it leased.
_LOCK_HOOKS = select(_W.c.pk).where(_W.c.pk.in_(bindparam("pks", expanding=True))).order_by(_W.c.pk).with_for_update()
_LEASED = (select(_D.c.webhook_pk, func.count()).where(
    _D.c.webhook_pk.in_(bindparam("pks", expanding=True)), _D.c.state == "pending",
    _D.c.lease_expires_at > bindparam("now", type_=_D.c.lease_expires_at.type)).group_by(_D.c.webhook_pk))
_NEXT_RETRY = select(func.min(_D.c.next_attempt_at)).where(
    _D.c.state == "pending", _D.c.next_attempt_at > bindparam("now", type_=_D.c.next_attempt_at.type))
_FANNED_OUT = update(_E).where(_E.c.id == bindparam("eid")).values(body=bindparam("data", type_=_E.c.body.type), fanned_out=True)  # beyond the attempt's timeout: recording the outcome takes a moment too


@dataclass
class Outcome:
    status_code: int | None
    latency_ms: float
    excerpt: str
    error: str
    retry_after: float | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryWorker:
    def __init__(self, platform: Platform, *, resolve: Resolver = system_resolve, rng: random.Random | None = None) -> None:
        self._platform = platform
        self._settings = platform.settings.webhooks
        self.resolve = resolve  # replaceable: tests stand in for DNS
        self._rng = rng or random.Random()
        self.policy = RetryPolicy(max_attempts=self._settings.max_attempts, base_seconds=self._settings.backoff_base_seconds,
                                  cap_seconds=self._settings.backoff_cap_seconds)
        self.wake = threading.Event()
        # Set by :meth:`notify` (a transaction wrote events): only then, or every poll interval (events
        # other servers wrote), does a round look for events to fan out. An attempt that ends wakes the
        # loop too, to start what its slot held back, and needs no fan-out query for that.
        self._events_written = True
        self._next_fan_out = 0.0
        # Whether deliveries may have fallen due since the last look (set by ``notify``, an attempt that
        # ended, a fan-out that made deliveries): a round woken only by events that its fan-out gave to no
        # webhook (an experiment's runs in an account without webhooks) skips the look and its queries.
        self._deliveries_due = True
        self._made_deliveries = False
        self._made_for: set[str] = set()  # the webhooks the last fan-out made deliveries for
        self._next_look = 0.0  # (monotonic) when the earliest retry falls due, or the next poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(self._settings.workers, thread_name_prefix="runyard-webhook")
        self._inflight: dict[str, int] = defaultdict(int)
        self._next_queue_scan = 0.0
        self._closed = False  # stopped: late attempts record nothing (the database may be gone)
        self._lock = threading.Lock()
        # TCP_NODELAY: a request's headers and body are two writes; with Nagle's algorithm the second
        # waits for the receiver's delayed ACK of the first, 40 ms on Linux, on every reused connection.
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                                        limits=httpx.Limits(max_connections=self._settings.workers * 2))
        self._client = httpx.Client(timeout=self._settings.timeout_seconds, follow_redirects=False, transport=transport,
                                    trust_env=False)
        metrics = platform.metrics
        self._attempts = metrics.counter("runyard_webhook_attempts_total",
                                         "Webhook delivery attempts, by outcome (delivered: a 2xx answer).", ("outcome",))
        self._attempt_seconds = metrics.histogram("runyard_webhook_attempt_seconds", "Time of a webhook delivery attempt.",
                                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self._ended = metrics.counter("runyard_webhook_deliveries_total",
                                      "Webhook deliveries ended, by state (failed: every attempt was used).", ("state",))

    # --- the loop ---------------------------------------------------------------------------------

    def notify(self) -> None:
        """Events were written (or deliveries made): look for work now."""
        self._deliveries_due = True
        self._events_written = True
        self.wake.set()

    def events_written(self) -> None:
        """Events to fan out were written: fan them out now (and start deliveries if that makes some)."""
        self._events_written = True
        self.wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="runyard-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(5)
        # Attempts under way get a moment to finish and be recorded; one still out after that is made
        # again once its lease expires (receivers deduplicate on webhook-id).
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self._free() < self._settings.workers and time.monotonic() < deadline:
            time.sleep(0.02)
        self._closed = True
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end deliveries for good
                log.exception("webhook delivery round failed; retrying")
                busy, self._deliveries_due, self._next_look = False, True, -1.0
            if not busy and self.wake.wait(self._sleep()) and self._events_written and self._settings.gather_seconds:
                # Woken by events: the rest of their burst is gathered first (an attempt that ended
                # wakes the loop without events, and its follow-up starts at once).
                self._stop.wait(self._settings.gather_seconds)

    def run_once(self) -> bool:
        """Fan out new events and start what is due; True if there may be more to do at once."""
        if self._settings.queue_wait_seconds and time.monotonic() >= self._next_queue_scan:
            self._next_queue_scan = time.monotonic() + min(QUEUE_SCAN_SECONDS, self._settings.queue_wait_seconds / 2)
            self.scan_queue()
        fanned = 0
        self._made_deliveries = False
        self._made_for = set()
        if self._events_written or time.monotonic() >= self._next_fan_out:
            self._events_written = False  # (cleared first: a notify during the fan-out asks for another)
            self._next_fan_out = time.monotonic() + self._settings.poll_seconds
            fanned = self.fan_out()
            if fanned >= FAN_OUT_BATCH:
                self._events_written = True
        if self._made_deliveries and not self._deliveries_due and self._capped(self._made_for):
            # Every delivery just made is for an endpoint this server alone already holds at its cap:
            # none can start before one of those attempts ends, which wakes the loop. (Without this, a
            # slow receiver's backlog was queried and its endpoint's leases counted at every event.)
            self._made_deliveries = False
        if not (self._deliveries_due or self._made_deliveries or time.monotonic() >= self._next_look):
            return fanned >= FAN_OUT_BATCH
        self._deliveries_due = False  # (cleared first: an attempt ending during the look asks for another)
        self._next_look = -1.0  # looked: ``_sleep`` reads when the next retry falls due
        started = self.start_due()
        return fanned >= FAN_OUT_BATCH or started > 0 and self._free() > 0

    def _sleep(self) -> float:
        """Seconds to sleep after a round: until the earliest retry falls due, at most the poll interval
        (read again only after a round that looked for due deliveries)."""
        if self._next_look < 0:
            self._next_look = time.monotonic() + self._until_due()
        return max(0.0, self._next_look - time.monotonic())

    def _until_due(self) -> float:
        """Seconds to sleep: until the earliest retry falls due, at most the poll interval."""
        poll = self._settings.poll_seconds
        try:
            with self._platform.db.engine.connect() as conn:
                # Only retries still ahead: those due now but held back (a run's earlier event still
                # pending, an endpoint at its cap) are started when an attempt ends and wakes the loop.
                due = conn.execute(_NEXT_RETRY, {"now": datetime.now(UTC)}).scalar()
        except Exception:  # noqa: BLE001
            return poll
        if due is None:
            return poll
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        return max(0.0, min(poll, (due - datetime.now(UTC)).total_seconds()))

    def _capped(self, pks: set[str]) -> bool:
        """Whether each of these webhooks has as many attempts under way here as its endpoint may take."""
        cap = self._settings.concurrency_per_endpoint
        with self._lock:
            return bool(pks) and all(self._inflight.get(pk, 0) >= cap for pk in pks)

    def _free(self) -> int:
        with self._lock:
            return self._settings.workers - sum(self._inflight.values())

    # --- queue waits ------------------------------------------------------------------------------

    def scan_queue(self) -> int:
        """A ``queue.wait`` event, once, for each run queued longer than the threshold."""
        now = datetime.now(UTC)
        threshold = self._settings.queue_wait_seconds
        told = exists().where(_E.c.subject == Run.id, _E.c.type == "queue.wait")
        with self._platform.db.session() as s:
            waiting = list(s.scalars(select(Run).where(Run.status == "queued", Run.created_at < now - timedelta(seconds=threshold), ~told)
                                     .order_by(Run.created_at).limit(200).with_for_update(skip_locked=True)))
            for run in waiting:
                emit(s, "queue.wait", {
                    "run_id": run.id, "application_id": run.app_id, "instance_id": run.instance_id or "",
                    "execution_class": run.execution_class, "priority": run.priority,
                    "queued_at": run.created_at.isoformat().replace("+00:00", "Z"),
                    "waited_seconds": round((now - run.created_at).total_seconds(), 3), "threshold_seconds": threshold,
                }, account_id=run.account_id, subject=run.id, app_id=run.app_id, detail="queued")
            return len(waiting)

    # --- fan-out ----------------------------------------------------------------------------------

    def fan_out(self) -> int:
        """Deliveries for the next outbox events, each event once across servers. Core statements on
        plain rows: every status change of every run passes here."""
        now = datetime.now(UTC)
        with self._platform.db.engine.begin() as conn:
            events = conn.execute(_PENDING_EVENTS, {"n": FAN_OUT_BATCH}).all()
            if not events:
                return 0
            accounts = list({e.account_id for e in events})
            hooks: dict[str, list[Any]] = defaultdict(list)
            for row in conn.execute(_HOOKS_OF, {"accounts": accounts}):
                hooks[row.account_id].append(row)
            run_ids = list({e.subject for e in events if e.type == wh.RUN_STATUS})
            runs = {r.id: r for r in conn.execute(_RUNS_OF, {"ids": run_ids})} if run_ids else {}
            ended = {(r.app_pk, r.experiment_id) for r in runs.values() if r.experiment_id and r.status in _ENDED}
            # (Only an experiment whose last run has ended needs a session: not an experiment's every run.)
            ended = {(app_pk, exp_id) for app_pk, exp_id in ended if not experiments.runs_left(conn, app_pk, exp_id)}
            if ended:
                with Session(bind=conn) as s:  # in this transaction
                    for app_pk, exp_id in ended:
                        experiments.complete_if_done(s, app_pk, exp_id)
                    s.flush()
            bodies, deliveries = [], []
            for event in events:
                data, instance_id, status = self._data(event, runs)
                bodies.append({"eid": event.id, "data": data})
                body = None
                for hook in hooks.get(event.account_id, ()):
                    if wh.matches(hook.event_types, hook.filters, event_type=event.type, app_id=event.app_id,
                                  instance_id=instance_id, status=status):
                        body = body or event_body(event, data)
                        deliveries.append({"id": new_id("msg", 20), "webhook_pk": hook.pk, "event_id": event.id,
                                           "event_type": event.type, "subject": event.subject, "body": body, "state": "pending",
                                           "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now})
            conn.execute(_FANNED_OUT, bodies)
            if deliveries:
                conn.execute(insert(_D), deliveries)
                self._made_deliveries = True
                self._made_for = {d["webhook_pk"] for d in deliveries}
            return len(events)

    @staticmethod
    def _data(event: Any, runs: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        if event.type != wh.RUN_STATUS:
            data = dict(event.body or {})
            return data, str(data.get("instance_id") or ""), event.detail or str(data.get("status") or "")
        run = runs.get(event.subject)
        if run is None:  # deleted before its event went out: what the event itself says
            return {"run_id": event.subject, "application_id": event.app_id, "status_v2": event.detail}, "", event.detail
        return run_status_data(run, event.detail), run.instance_id or "", event.detail

    # --- attempts ---------------------------------------------------------------------------------

    def start_due(self) -> int:
        """Lease due deliveries (per-run order kept, per-endpoint cap respected) and start their attempts."""
        free = self._free()
        if free <= 0:
            return 0
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=self._settings.timeout_seconds + LEASE_MARGIN_SECONDS)
        taken: list[Any] = []
        cap = self._settings.concurrency_per_endpoint
        with self._platform.db.engine.begin() as conn:
            rows = conn.execute(_DUE, {"now": now, "n": free * 4}).all()
            leased: dict[str, int] = {}
            if rows:
                pks = sorted({row.webhook_pk for row in rows})
                conn.execute(_LOCK_HOOKS, {"pks": pks}).all()
                leased = {pk: n for pk, n in conn.execute(_LEASED, {"pks": pks, "now": now})}
            with self._lock:
                for row in rows:
                    if len(taken) >= free:
                        break
                    # (this server's own attempts hold leases too: the count covers them)
                    if max(leased.get(row.webhook_pk, 0), self._inflight[row.webhook_pk]) >= cap:
                        continue
                    leased[row.webhook_pk] = leased.get(row.webhook_pk, 0) + 1
                    self._inflight[row.webhook_pk] += 1
                    taken.append(row)
            if taken:
                conn.execute(update(_D).where(_D.c.id.in_([t.id for t in taken])).values(lease_expires_at=lease))
        for row in taken:
            self._pool.submit(self._attempt_guarded, row, lease)
        return len(taken)

    def _attempt_guarded(self, claimed: Any, lease: datetime) -> None:
        try:
            following: tuple[Any, datetime] | None = (claimed, lease)
            while following is not None and not self._stop.is_set():
                claimed = following[0]
                following = self.attempt(*following)
        except Exception:  # noqa: BLE001
            if not self._closed:
                log.exception("webhook delivery %s: attempt failed unexpectedly", claimed.id)
        finally:
            with self._lock:
                self._inflight[claimed.webhook_pk] -= 1
            self._deliveries_due = True
            self.wake.set()  # a slot is free; a next delivery of this run may be due

    def attempt(self, claimed: Any, lease: datetime) -> tuple[Any, datetime] | None:
        """One attempt of a leased delivery (``claimed``: its row joined with its webhook's); after a
        success, the same run's next delivery to the webhook, leased, when it can go at once."""
        try:
            secrets = signing_secrets(self._platform, claimed, datetime.now(UTC))
        except Conflict as exc:  # another RUNYARD_SECRETS_KEY: nothing can be signed; the log says so
            outcome = Outcome(None, 0.0, "", str(exc), None)
        else:
            outcome = self._post(claimed.endpoint_url, dict(claimed.headers or {}), claimed.body.encode(), claimed.id, secrets)
        if self._closed:
            return None
        self._attempts.labels("delivered" if outcome.ok else "failed").inc()
        self._attempt_seconds.observe(outcome.latency_ms / 1000)
        if outcome.ok:
            self._ended.labels("succeeded").inc()
            return self._record_success(claimed.id, claimed.webhook_pk, lease, outcome, subject=claimed.subject)
        self._record(claimed.id, lease, outcome)
        return None

    def _record_success(self, delivery_id: str, webhook_pk: str, lease: datetime, outcome: Outcome, *,
                        subject: str = "") -> tuple[Any, datetime] | None:
        """The common case in three Core statements; the webhook row is written only if it had failures.
        In the same transaction, the subject's next delivery is leased if it can go now."""
        now = datetime.now(UTC)
        with self._platform.db.engine.begin() as conn:
            moved = conn.execute(update(_D).where(_D.c.id == delivery_id, _D.c.lease_expires_at == lease).values(
                state="succeeded", finished_at=now, attempts=_D.c.attempts + 1, lease_expires_at=None,
                last_status_code=outcome.status_code, last_error="")).rowcount
            if not moved:
                return None  # taken over meanwhile (this attempt outlived its lease) or deleted
            conn.execute(insert(_A).values(
                delivery_id=delivery_id, number=select(func.count() + 1).where(_A.c.delivery_id == delivery_id).scalar_subquery(),
                started_at=now, status_code=outcome.status_code, latency_ms=outcome.latency_ms,
                response_excerpt=outcome.excerpt, error=""))
            conn.execute(update(_W).where(_W.c.pk == webhook_pk, _W.c.consecutive_failures != 0)
                         .values(consecutive_failures=0, failing_since=None))
            return self._lease_next(conn, webhook_pk, subject, now) if subject else None

    def _lease_next(self, conn: Any, webhook_pk: str, subject: str, now: datetime) -> tuple[Any, datetime] | None:
        """The subject's earliest pending delivery to the webhook, leased, if it is due and free (this
        attempt's slot passes to it, so the per-endpoint count is unchanged)."""
        row = conn.execute(_NEXT_OF_SUBJECT, {"pk": webhook_pk, "subject": subject}).first()
        if row is None or _aware(row.next_attempt_at) > now:
            return None
        if row.lease_expires_at is not None and _aware(row.lease_expires_at) >= now:
            return None  # another attempt has it
        lease = now + timedelta(seconds=self._settings.timeout_seconds + LEASE_MARGIN_SECONDS)
        conn.execute(update(_D).where(_D.c.id == row.id).values(lease_expires_at=lease))
        return row, lease

    def _post(self, url: str, custom: dict[str, str], body: bytes, msg_id: str, secrets: list[str]) -> Outcome:
        started = time.perf_counter()
        try:
            target = check_target(self._settings, url, resolve=self.resolve)
        except TargetRefused as exc:
            return Outcome(None, 0.0, "", str(exc), None)
        assert target is not None
        now = time.time()
        headers = {
            **custom,
            "Content-Type": "application/json",
            "User-Agent": f"Runyard-Webhooks/{__version__}",
            "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
            "Nextmv-Signature": wh.nextmv_signature(secrets, body, int(now * 1000)),
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": wh.standard_signature(secrets, msg_id, int(now), body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with self._client.stream("POST", target.pinned_url(url), content=body, headers=headers, extensions=extensions) as resp:
                excerpt = b""
                for chunk in resp.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
                retry_after = wh.parse_retry_after(resp.headers.get("retry-after"), now=datetime.now(UTC))
                return Outcome(resp.status_code, (time.perf_counter() - started) * 1000,
                               excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"), "", retry_after)
        except httpx.TimeoutException:
            return Outcome(None, (time.perf_counter() - started) * 1000, "", f"timed out after {self._settings.timeout_seconds:g} s", None)
        except httpx.HTTPError as exc:
            return Outcome(None, (time.perf_counter() - started) * 1000, "", f"{type(exc).__name__}: {exc}", None)

    def _record(self, delivery_id: str, lease: datetime, outcome: Outcome) -> None:
        now = datetime.now(UTC)
        with self._platform.db.session() as s:
            delivery = s.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None or delivery.lease_expires_at != lease:
                return  # taken over meanwhile (this attempt outlived its lease) or deleted
            hook = s.get(Webhook, delivery.webhook_pk, with_for_update=True)
            number = delivery.attempts + 1
            s.add(WebhookAttempt(delivery_id=delivery_id, number=_next_number(s, delivery_id), started_at=now,
                                 status_code=outcome.status_code, latency_ms=outcome.latency_ms,
                                 response_excerpt=outcome.excerpt, error=outcome.error))
            delivery.attempts, delivery.lease_expires_at = number, None
            delivery.last_status_code = outcome.status_code
            delivery.last_error = outcome.error or ("" if outcome.ok else f"HTTP {outcome.status_code}")
            if outcome.ok:
                delivery.state, delivery.finished_at = "succeeded", now
                if hook is not None:
                    hook.consecutive_failures, hook.failing_since = 0, None
                return
            if number >= self.policy.max_attempts:
                delivery.state, delivery.finished_at = "failed", now
                self._ended.labels("failed").inc()
            else:
                delay = self.policy.delay(number, retry_after=outcome.retry_after, rng=self._rng)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            if hook is not None:
                self._count_failure(s, hook.pk, now)

    def _count_failure(self, s: Session, webhook_pk: str, now: datetime) -> None:
        """One more failed attempt, counted in the database itself: attempts to one webhook end at once
        (several in flight), and on SQLite the row read before cannot be locked, so a count made from it
        would lose failures."""
        row = s.execute(update(_W).where(_W.c.pk == webhook_pk)
                        .values(consecutive_failures=_W.c.consecutive_failures + 1,
                                failing_since=func.coalesce(_W.c.failing_since, now))
                        .returning(_W.c.consecutive_failures, _W.c.failing_since, _W.c.status, _W.c.id, _W.c.account_id)
                        .execution_options(synchronize_session=False)).first()
        if row is None:
            return
        settings, since = self._settings, _aware(row.failing_since)
        if (row.status == "enabled" and row.consecutive_failures >= settings.disable_after_failures
                and (now - since).total_seconds() >= settings.disable_after_seconds):
            reason = (f"disabled after {row.consecutive_failures} consecutive failed attempts since "
                      f"{since.isoformat()}; re-enable it with status 'enabled'")
            s.execute(update(_W).where(_W.c.pk == webhook_pk, _W.c.status == "enabled")
                      .values(status="disabled", disabled_reason=reason).execution_options(synchronize_session=False))
            log.warning("webhook %s of account %s disabled: %s", row.id, row.account_id, reason)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _next_number(session: Any, delivery_id: str) -> int:
    return attempt_count(session, delivery_id) + 1

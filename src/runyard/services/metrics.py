"""Prometheus metrics: one registry per server, the series every operator asks for, and one way for any
module to add its own (``platform.metrics.counter(...)``, ``.histogram(...)``, ``.gauge(...)``, or a
collector read at scrape time).

What the database already knows (runs by status and class, queue depth and age, stored bytes) is read
when Prometheus scrapes, at most once per ``SNAPSHOT_SECONDS``, so every server of a cluster reports the
same truth. What only happens in one process (an HTTP request, a run this server dispatched, an
environment build) is counted where it happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from runyard.execution.runtime import envs
from runyard.storage.db import Bundle, Run, Upload

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SNAPSHOT_SECONDS = 5.0
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Metrics:
    """The server's registry and its own series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.http_latency = self.histogram(
            "runyard_http_request_duration_seconds", "Time to answer an API request, by route template and status.",
            ("method", "route", "status"), buckets=HTTP_BUCKETS)
        self.queue_wait = self.histogram(
            "runyard_queue_wait_seconds", "Time runs waited in the queue before this server started them.",
            ("execution_class",), buckets=RUN_BUCKETS)
        self.run_duration = self.histogram(
            "runyard_run_duration_seconds", "Time from start to end of runs this server executed, by final status.",
            ("execution_class", "status"), buckets=RUN_BUCKETS)

    def _get_or_make(self, kind: type, name: str, documentation: str, labels: Sequence[str], **kw: Any) -> Any:
        with self._lock:
            made = self._made.get(name)
            if made is None:
                made = self._made[name] = kind(name, documentation, tuple(labels), registry=self.registry, **kw)
            elif not isinstance(made, kind):
                raise ValueError(f"metric {name!r} exists as another kind")
            return made

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """The counter ``name`` (created on first use; later calls get the same one)."""
        return self._get_or_make(Counter, name, documentation, labels)

    def histogram(self, name: str, documentation: str, labels: Sequence[str] = (), *,
                  buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS) -> Histogram:
        return self._get_or_make(Histogram, name, documentation, labels, buckets=tuple(buckets))

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get_or_make(Gauge, name, documentation, labels)

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Series computed at scrape time by ``collect``."""
        self.registry.register(_Collector(collect))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self.collect = collect

    def describe(self) -> list[Metric]:
        return []


class PlatformSnapshot:
    """Scrape-time series read from the database, remembered for ``SNAPSHOT_SECONDS``."""

    def __init__(self, db: Any, *, classes: Sequence[str]) -> None:
        self._db, self._classes = db, tuple(classes)
        self._at = 0.0
        self._families: list[Metric] = []
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() - self._at > SNAPSHOT_SECONDS:
                self._families = self._read()
                self._at = time.monotonic()
            families = list(self._families)
        return [*families, *_environment_builds()]

    def _read(self) -> list[Metric]:
        runs = GaugeMetricFamily("runyard_runs", "Runs stored, by status and execution class.",
                                 labels=("status", "execution_class"))
        depth = GaugeMetricFamily("runyard_queue_depth", "Runs waiting in the queue, by execution class.",
                                  labels=("execution_class",))
        oldest = GaugeMetricFamily("runyard_queue_oldest_wait_seconds",
                                   "How long the oldest queued run of each execution class has waited.",
                                   labels=("execution_class",))
        stored = GaugeMetricFamily("runyard_blob_bytes", "Bytes of stored blobs, by kind.", labels=("kind",))
        queued: dict[str, int] = dict.fromkeys(self._classes, 0)
        with self._db.session() as s:
            for status, cls, count in s.execute(select(Run.status, Run.execution_class, func.count())
                                                .group_by(Run.status, Run.execution_class)):
                runs.add_metric([status, cls or ""], count)
                if status == "queued":
                    queued[cls or ""] = queued.get(cls or "", 0) + count
            now = datetime.now(UTC)
            for cls, first in s.execute(select(Run.execution_class, func.min(Run.created_at))
                                        .where(Run.status == "queued").group_by(Run.execution_class)):
                first = first if first.tzinfo else first.replace(tzinfo=UTC)
                oldest.add_metric([cls or ""], max(0.0, (now - first).total_seconds()))
            inputs, outputs = s.execute(select(func.coalesce(func.sum(Run.input_size), 0),
                                               func.coalesce(func.sum(Run.output_size), 0))).one()
            bundles = s.scalar(select(func.coalesce(func.sum(Bundle.size), 0)))
            uploads = s.scalar(select(func.coalesce(func.sum(Upload.size), 0)))
        for cls, count in queued.items():
            depth.add_metric([cls], count)
        for kind, value in (("run_inputs", inputs), ("run_outputs", outputs), ("bundles", bundles), ("uploads", uploads)):
            stored.add_metric([kind], int(value or 0))
        return [runs, depth, oldest, stored]


def _environment_builds() -> list[Metric]:
    builds = CounterMetricFamily("runyard_environment_builds", "Python environments built by this process, by outcome.",
                                 labels=("outcome",))
    seconds = CounterMetricFamily("runyard_environment_build_seconds", "Time this process spent building environments.")
    stats = envs.build_stats()
    for outcome in ("succeeded", "failed"):
        builds.add_metric([outcome], stats[outcome])
    seconds.add_metric([], stats["seconds"])
    return [builds, seconds]


def create_metrics(db: Any, *, classes: Sequence[str]) -> Metrics:
    """A server's metrics: its own series plus the database snapshot."""
    metrics = Metrics()
    metrics.add_collector(PlatformSnapshot(db, classes=classes).collect)
    return metrics


def run_status_label(status: Any) -> str:
    return getattr(status, "value", None) or str(status or "unknown")

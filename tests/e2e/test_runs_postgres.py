"""The runs list on PostgreSQL with many runs: the first page, filters and pages in Chromium, each a
page of the API's keyset list (nothing loads everything)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from compat.harness import Server, start_server, unique
from runyard.storage.db import Run
from runyard.storage.db.bulk import insert_rows

from .conftest import TIMEOUT_MS, VIEWPORT, sign_in

RUNS = 20_000
STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def pg_server(postgres_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """``runyard serve`` on PostgreSQL holding an application with RUNS runs (seeded through the storage
    layer, after one tracked run made through the API gives the row template)."""
    database_url = postgres_cluster.create_database()
    server = start_server(backend="postgresql", base_dir=tmp_path_factory.mktemp("console-pg"),
                          env_dir=tmp_path_factory.mktemp("console-pg-envs"), database_url=database_url)
    try:
        app_id = server.create_app(unique("big"))
        tracked = server.api("POST", f"v1/applications/{app_id}/runs",
                             json={"input": {}, "result": {"status": "succeeded"}})
        assert tracked.status_code in (200, 202), tracked.text
        engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            template = dict(conn.execute(select(Run.__table__).where(Run.__table__.c.app_id == app_id).limit(1))
                            .mappings().one())
        rng = random.Random(7)
        rows = [{"id": f"run-big{i:06d}", "created_at": T0 + timedelta(seconds=i), "status": STATUSES[i % 5],
                 "instance_id": rng.choice(("inst-a", "inst-b")), "version_id": "v1", "idempotency_key": None}
                for i in range(RUNS)]
        insert_rows(engine, Run.__table__, {k: v for k, v in template.items() if k not in rows[0]}, rows)
        engine.dispose()
        yield server, app_id
    finally:
        server.stop()


def test_many_runs_page_and_filter_on_postgresql(browser: Any, pg_server: tuple[Server, str], shot: Any,
                                                  axe: Any) -> None:
    server, app_id = pg_server
    context = browser.new_context(viewport=VIEWPORT, base_url=server.url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, server.key)
        started = time.monotonic()
        page.goto(f"/app/{app_id}/runs")
        rows = page.locator("tbody tr")
        rows.first.wait_for()
        first_page_seconds = time.monotonic() - started
        assert rows.count() == 25
        # newest first: the tracked run (made just now), then the seeded ones, latest first
        assert rows.nth(1).get_attribute("data-key") == f"run-big{RUNS - 1:06d}"
        shot(page, "first-page")
        axe(page, context="runs list of 20,000 runs")

        pages = page.get_by_role("navigation", name="Run pages")
        for n in range(2, 5):
            pages.get_by_role("button", name="Next →").click()
            page.get_by_text(f"Page {n}", exact=True).wait_for()
        assert rows.first.get_attribute("data-key") == f"run-big{RUNS - 75:06d}"  # 3 pages of 25 on

        form = page.get_by_role("search", name="Filter runs")
        form.get_by_label("Status").select_option("failed")
        form.get_by_label("Created until").fill("2026-11-01T01:00")  # local time: the page sends it as UTC
        form.get_by_role("button", name="Apply filters").click()
        page.get_by_text("Page 1", exact=True).wait_for()
        rows.first.wait_for()
        shown = [r.get_attribute("data-key") for r in rows.all()]
        statuses = page.locator("tbody [data-status]").all_inner_texts()
        assert shown and all("failed" in s for s in statuses)
        until = datetime.fromisoformat(page.evaluate("() => new Date('2026-11-01T01:00').toISOString()")
                                       .replace("Z", "+00:00"))
        assert all(T0 + timedelta(seconds=int(k[-6:])) < until for k in shown)
        shot(page, "filtered")
        print(f"first page of {RUNS} runs rendered {first_page_seconds * 1000:.0f} ms after navigation")
    finally:
        context.close()

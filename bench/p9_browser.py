"""P9, browser half: time to a rendered batch-experiment page of 1,000 runs in headless Chromium.

``runyard serve`` (embedded executor) with an app whose statistic ``result.value`` is drawn from the run
id (so every run differs), one managed input, and two instances (the second scales by 2). Two batch
experiments, both ended before anything is measured:

- *big*: N runs (2 instances × N/2 repetitions of the input): 1,000 in full mode;
- *baseline*: the same page for an experiment of 2 runs, one per instance (the nearly empty page).

Debian's Chromium (``chromium``), driven by Playwright, signed in once through ``POST
/v1/console/session``; the console's assets are cached as a returning user's are. Each round opens
both pages once, in a fresh random order, in a fresh tab. The figure is the time from the start of
the navigation (``performance.timeOrigin``) to the first animation frame at which the page shows what
a user came for: the heading, one box per instance in the box plot, the summary table and the first
page of the run list (the frame is caught by a ``requestAnimationFrame`` poll, so a figure may be up to
one frame late). The first rounds are a warm-up.

Goal: the 1,000-run page at p95 under 1 s.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from bench.common import Server, SetupError, summary_ms

GOAL_P95_MS = 1000.0
APP_ID = "p9b"
MAIN = '''\
"""result.value from the run id: every run of an experiment has its own value."""
import hashlib
import json
import os
import sys

json.load(sys.stdin)
scale = float(sys.argv[sys.argv.index("-scale") + 1]) if "-scale" in sys.argv else 1.0
digest = hashlib.sha256(os.environ.get("NEXTMV_RUN_ID", "").encode()).digest()
value = (int.from_bytes(digest[:4], "big") % 10000) / 100 * scale
json.dump({"solution": {}, "statistics": {"schema": "v1", "result": {"value": value, "custom": {"scale": scale}}}}, sys.stdout)
'''
MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
configuration:
  options:
    items:
      - name: scale
        option_type: float
        default: 1
"""
READY = """([boxes, rows]) => {
  const runs = [...document.querySelectorAll('main table')].find((t) => t.caption && t.caption.textContent.startsWith('Runs of'));
  const ok = document.querySelector('h1') && document.querySelectorAll('svg.box-plot g.box').length === boxes
    && document.querySelector('main table caption') && runs && runs.tBodies[0].rows.length >= rows;
  if (ok && window.__rendered === undefined) window.__rendered = performance.now();
  return ok;
}"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    raise SetupError("Debian's chromium is not installed (apt-get install chromium)")


def _setup(server: Server, work: Path, runs: int) -> dict[str, str]:
    from runyard import cloud

    app_dir = work / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(MAIN)
    (app_dir / "app.yaml").write_text(MANIFEST)
    client = server.client()
    app = cloud.Application.new(client=client, name=APP_ID, id=APP_ID)
    app.push(app_dir=str(app_dir))
    version = app.new_version(id="v1", name="v1")
    for inst, scale in (("base", "1"), ("double", "2")):
        server.call("POST", f"/v1/applications/{APP_ID}/instances",
                    json={"id": inst, "name": inst, "version_id": version.id, "configuration": {"options": {"scale": scale}}})
    slot = server.call("POST", f"/v1/applications/{APP_ID}/runs/uploadurl")
    target = urljoin(server.url + "/", slot["upload_url"])
    requests.put(target, data=json.dumps({"x": 1}).encode(), timeout=60).raise_for_status()
    server.call("POST", f"/v1/applications/{APP_ID}/inputs", json={"id": "one", "name": "one", "upload_id": slot["upload_id"]})
    ids = {"big": "big", "baseline": "small"}
    for exp_id, count in ((ids["big"], runs), (ids["baseline"], 2)):
        spec = [{"input_id": "one", "instance_id": inst, "repetition": k} for k in range(count // 2) for inst in ("base", "double")]
        server.call("POST", f"/v1/applications/{APP_ID}/experiments/batch", json={"id": exp_id, "name": f"{count} runs", "runs": spec})
    deadline = time.monotonic() + 900
    for exp_id in ids.values():
        while True:
            exp = server.call("GET", f"/v1/applications/{APP_ID}/experiments/batch/{exp_id}")
            if exp["status"] != "started":
                break
            if time.monotonic() > deadline:
                raise SetupError(f"experiment {exp_id} did not end: {exp['number_of_completed_runs']} of {exp['number_of_runs']}")
            time.sleep(0.5)
        if exp["status"] != "completed" or exp["number_of_succeeded_runs"] != exp["number_of_runs"]:
            raise SetupError(f"experiment {exp_id} ended {exp['status']} with {exp['number_of_failed_runs']} failed runs")
        groups = exp.get("grouped_distributional_summaries") or []
        if len(groups) != 2:
            raise SetupError(f"experiment {exp_id} has {len(groups)} groups, not one per instance")
    return ids


def _measure(context: Any, url: str, rows: int) -> float:
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function(READY, arg=[2, rows], polling="raf", timeout=30_000)
        return float(page.evaluate("() => window.__rendered")) / 1000
    finally:
        page.close()


def run(work: Path, quick: bool) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise SetupError("playwright is not installed (pip install -e '.[test]')") from exc
    runs, rounds, warmup = (200, 12, 3) if quick else (1000, 40, 5)
    path = chromium()
    with Server(work / "server", executor="embedded", concurrency=2) as server:
        ids = _setup(server, work, runs)
        pages = {"big": f"{server.url}/app/{APP_ID}/experiments/batch/{ids['big']}",
                 "baseline": f"{server.url}/app/{APP_ID}/experiments/batch/{ids['baseline']}"}
        times: dict[str, list[float]] = {"big": [], "baseline": []}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            signed = context.request.post(f"{server.url}/v1/console/session", data={"api_key": server.key})
            if signed.status != 201:
                raise SetupError(f"sign-in answered {signed.status}: {signed.text()[:200]}")
            for i in range(warmup + rounds):
                order = list(pages)
                random.shuffle(order)
                for name in order:
                    seconds = _measure(context, pages[name], 50 if name == "big" else 2)
                    if i >= warmup:
                        times[name].append(seconds)
            version = browser.version
            browser.close()
    big, base = summary_ms(times["big"]), summary_ms(times["baseline"])
    return {"id": "P9B", "runs": runs, "rounds": rounds, "chromium": version, "big": big, "baseline": base,
            "goal": {"p95_below_ms": GOAL_P95_MS, "met": big["p95_ms"] < GOAL_P95_MS}}

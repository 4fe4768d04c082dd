"""The console links Runyard's CLI hands out lead to the server's own console."""

from __future__ import annotations

from pathlib import Path

import requests

from .conftest import Cli, Deployed, LiveServer


def test_run_links_point_at_the_servers_console(runyard: Cli, live_server: LiveServer, deployed: Deployed,
                                                input_file: Path) -> None:
    submitted = runyard.ok("run", "submit", deployed.app_id, "-i", str(input_file))
    run_id = submitted.stdout.strip()
    link = f"{live_server.url}/app/{deployed.app_id}/run/{run_id}?view=details"
    assert run_id.startswith("run-") and f"console: {link}" in submitted.stderr
    assert runyard.json("run", "submit", deployed.app_id, "-i", str(input_file))["console_url"].startswith(
        f"{live_server.url}/app/{deployed.app_id}/run/run-")

    assert runyard.json("run", "get", deployed.app_id, run_id)["console_url"] == link
    assert link in runyard.ok("run", "get", deployed.app_id, run_id).stdout
    assert link in runyard.ok("run", "result", deployed.app_id, run_id, "--wait").stdout

    page = requests.get(link, timeout=10)  # the console's page, not a 404 and not the API
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'type="module"' in page.text

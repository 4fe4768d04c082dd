"""Retention and the janitor: policies delete ended runs (rows and blobs), experiments keep theirs, and the
disk usage of the blob store goes back to its baseline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runyard.services import janitor

from .conftest import Lab, ok, wait_for


def usage(root: Path, *, skip: str = "uploads") -> int:
    """Bytes of the files under ``root`` (the filesystem blob store), leaving out ``root/skip``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != skip)


def test_retention_deletes_runs_and_blobs_and_disk_usage_returns_to_baseline(lab: Lab) -> None:
    api, base = lab.api, lab.base
    platform = api.client.app.state.platform
    blobs = platform.settings.data_path("blobs")
    instance = lab.instance("base")
    lab.batch("kept", input_set_id=lab.input_set("s", lab.inputs("x", [1, 2])), instance_ids=[instance])
    lab.wait_experiment("kept")
    experiment_runs = {r["id"] for r in lab.experiment_runs("kept")}
    assert len(experiment_runs) == 2
    baseline = usage(blobs)

    standalone = []
    for k in range(4):
        body = {"input": {"x": k, "padding": "p" * 200_000}, "instance_id": instance}
        standalone.append(ok(api.post(f"{base}/runs", json=body))["run_id"])
    for run_id in standalone:
        wait_for(lambda run_id=run_id: ok(api.get(f"{base}/runs/{run_id}/metadata"))["metadata"]["status_v2"] == "succeeded",
                 what=f"run {run_id}")
    grown = usage(blobs)
    assert grown > baseline + 4 * 200_000

    assert api.put(f"{base}/retention", json={"keep_last": 0}).status_code == 400
    assert ok(api.put(f"{base}/retention", json={"keep_last": 1})) == {"keep_days": None, "keep_last": 1}
    swept = ok(api.post("/v1/admin/janitor"))
    assert swept["runs"] == 3 and swept["bytes"] > 3 * 200_000
    listed = {r["id"] for r in ok(api.get(f"{base}/runs"))["runs"]}
    assert listed == experiment_runs | {standalone[-1]}
    for run_id in standalone[:-1]:
        assert api.get(f"{base}/runs/{run_id}/metadata").status_code == 404
        assert not (blobs / "runs" / run_id).exists()
    one_left = usage(blobs)
    assert baseline < one_left < grown

    ok(api.put(f"{base}/retention", json={"keep_days": 1, "keep_last": None}))
    later = datetime.now(UTC) + timedelta(days=2)
    done = janitor.sweep_all(platform, now=later)
    assert done.runs == 1
    assert {r["id"] for r in ok(api.get(f"{base}/runs"))["runs"]} == experiment_runs  # kept with their experiment
    after = usage(blobs)
    print(f"blob store without uploads: baseline {baseline} B, after 4 runs {grown} B, keep_last=1 {one_left} B, "
          f"keep_days=1 two days later {after} B")
    assert after == baseline
    # The uploads the managed inputs were made from (copied when the inputs were made) went too, as abandoned.
    assert done.uploads >= 2 and not any((blobs / "uploads").iterdir())
    assert lab.experiment("kept")["status"] == "completed"


def test_the_janitor_removes_unused_upload_slots_and_bundles_never_activated(lab: Lab) -> None:
    api, base = lab.api, lab.base
    platform = api.client.app.state.platform
    blobs = platform.settings.data_path("blobs")
    unused = ok(api.post(f"{base}/runs/uploadurl"))["upload_id"]
    filled = ok(api.post(f"{base}/runs/uploadurl"))
    assert api.client.put(filled["upload_url"], content=b'{"x": 1}').status_code == 200
    pending = ok(api.get(f"{base}/binary"))["upload_url"]
    assert api.client.put(pending, content=b"not a tar archive").status_code == 200
    assert janitor.sweep_all(platform).uploads == 0  # nothing has expired yet

    soon = datetime.now(UTC) + timedelta(hours=1)
    done = janitor.sweep_all(platform, now=soon)
    assert done.uploads == 1 and done.bundles == 0  # the slot never filled; the filled one may still be used
    assert ok(api.post(f"{base}/runs", json={"upload_id": filled["upload_id"]}))["run_id"]
    assert api.post(f"{base}/runs", json={"upload_id": unused}).status_code == 404

    much_later = datetime.now(UTC) + timedelta(days=2)
    done = janitor.sweep_all(platform, now=much_later)
    assert done.bundles == 1 and done.uploads >= 0
    assert len(list((blobs / "apps").rglob("*.tar.gz"))) == 1  # the active bundle alone
    assert (blobs / f"uploads/{filled['upload_id']}").exists()  # a run uses it


def test_a_rejected_bundle_leaves_nothing_on_disk(lab: Lab) -> None:
    api = lab.api
    blobs = api.client.app.state.platform.settings.data_path("blobs")
    before = sorted(p.name for p in (blobs / "apps").rglob("*.tar.gz"))
    response = api.push(lab.app_id, {"app.yaml": "type: python\nfiles: [main.py]\n", "other.py": "x = 1\n"})
    assert response.status_code == 400, response.text
    assert sorted(p.name for p in (blobs / "apps").rglob("*.tar.gz")) == before


def test_the_orphan_scan_removes_objects_no_row_owns_once_old_and_keeps_the_rest(lab: Lab) -> None:
    api, base = lab.api, lab.base
    platform = api.client.app.state.platform
    store = platform.blobs
    instance = lab.instance("orph")
    lab.managed_input("kept-input", {"x": 1})
    run_id = ok(api.post(f"{base}/runs", json={"input": {"x": 7}, "instance_id": instance}))["run_id"]
    wait_for(lambda: ok(api.get(f"{base}/runs/{run_id}/metadata"))["metadata"]["status_v2"] == "succeeded", what="the run")
    app_pk = next(info.key.split("/")[1] for info in store.list_keys("apps/") if "/bundles/" in info.key)
    owned = {info.key for info in store.list_keys()}
    # What crashes leave behind: objects whose rows never came or went without them.
    ghosts = ["runs/run-ghost/output", "uploads/upload-ghost", "uploads/upload-ghost.sealed",
              f"apps/{app_pk}/bundles/bundle-ghost.tar.gz", f"apps/{app_pk}/inputs/data-ghost", "apps/987654/bundles/b.tar.gz",
              f"runs/{run_id}/.tmp-dead-writer"]
    for key in ghosts:
        store.put_bytes(key, b"left behind")
    store.put_bytes("elsewhere/not-ours", b"an unknown key is left alone")

    assert janitor.scan_orphans(platform).orphans == 0  # young objects may be writes in flight
    later = datetime.now(UTC) + timedelta(days=2)
    done = janitor.scan_orphans(platform, now=later)
    assert {info.key for info in store.list_keys()} == owned | {"elsewhere/not-ours"}
    assert done.orphans == len(ghosts) and done.bytes == len(ghosts) * len(b"left behind")
    assert json.loads(api.get(f"{base}/runs/{run_id}/input").content) == {"x": 7}  # what rows own still reads
    assert ok(api.post(f"{base}/runs", json={"input": {"x": 8}, "instance_id": instance}))["run_id"]  # the bundle still runs
    assert ok(api.post("/v1/admin/janitor"))["orphans"] == 0

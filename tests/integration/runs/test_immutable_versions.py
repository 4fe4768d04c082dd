"""A version runs the code it was cut from: its bundle's checksum is recorded at activation and checked
whenever the bundle is unpacked again."""

from __future__ import annotations

import shutil
import time

from integration.conftest import make_bundle
from runyard.storage.db import Bundle

from .apps import TOOL_APP
from .conftest import new_tool_app, result, run_log, submit, wait_status


def test_a_bundle_changed_in_storage_is_refused_when_unpacked(start_server) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    app = new_tool_app(api, "sealed")
    first = submit(api, app, {})
    assert wait_status(api, app, first)["status_v2"] == "succeeded"

    platform = api.client.app.state.platform
    with platform.db.session() as s:
        bundle = s.query(Bundle).filter(Bundle.status == "active").one()
        bundle_id, key, digest = bundle.id, bundle.blob_key, bundle.sha256
    assert digest and len(digest) == 64
    # The archive is swapped behind the API's back and the unpacked copy is gone (a new worker, a wiped cache).
    platform.blobs.put_bytes(key, make_bundle({**TOOL_APP, "main.py": "print('{\"solution\": \"other code\"}')\n"}))
    shutil.rmtree(platform.bundle_cache / bundle_id)

    second = submit(api, app, {})
    meta = wait_status(api, app, second)
    assert meta["status_v2"] == "failed"
    assert "checksum" in str(result(api, app, second).get("error_log", "")) + run_log(api, app, second)


def test_a_bundle_of_thousands_of_files_activates_without_unpacking_and_runs(start_server) -> None:  # type: ignore[no-untyped-def]
    """Activation reads the archive's headers only; the bundle is unpacked behind it (or by the first run)."""
    from runyard.services.bundles import PREWARM_INLINE_MEMBERS

    api = start_server()
    vendor = {f"vendor/pkg{k // 300}/mod{k}.py": f"VALUE = {k}\n" for k in range(PREWARM_INLINE_MEMBERS + 500)}
    started = time.monotonic()
    app = new_tool_app(api, "wide", {**TOOL_APP, **vendor})
    activation = time.monotonic() - started
    run_id = submit(api, app, {})  # may well come before the background unpack ends: it unpacks too
    assert wait_status(api, app, run_id)["status_v2"] == "succeeded", run_log(api, app, run_id)
    assert activation < 20

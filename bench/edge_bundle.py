"""``python -m bench.edge_bundle``: activating a bundle of 20,000 files (``PUT …/binary``), timed.

The SDK's push waits at most 20 s for the activation; the goal is "well within" that. A real
``runyard serve`` (stub executor) gets a gzip'ed tar of ``app.yaml``, ``main.py`` and 19,998 small
files (a vendored dependency tree's shape); the upload and the activation are timed apart, three times.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

from bench.common import Server

FILES = 20_000
GOAL_SECONDS = 10.0  # half the SDK's timeout
ROUNDS = 3


def bundle() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        add("app.yaml", b"type: python\nfiles: [main.py, vendor]\n")
        add("main.py", b"import json, sys\nprint(json.dumps({'solution': json.load(sys.stdin)}))\n")
        for k in range(FILES - 2):
            add(f"vendor/pkg{k // 500}/mod{k % 500}.py", f"VALUE = {k}\n".encode() * 8)
    return buf.getvalue()


def main() -> int:
    archive = bundle()
    requirements = {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}
    uploads, activations = [], []
    with tempfile.TemporaryDirectory(prefix="runyard-bundle-") as tmp:
        with Server(Path(tmp), executor="stub", extra_env={"RUNYARD_SANDBOX": "off"}) as server:
            server.call("POST", "/v1/applications", json={"id": "big", "name": "big"})
            session = server.session()
            for _ in range(ROUNDS):
                url = server.call("GET", "/v1/applications/big/binary", session)["upload_url"]
                started = time.perf_counter()
                put = requests.put(url, data=archive, timeout=120)
                uploads.append(time.perf_counter() - started)
                assert put.status_code == 200, put.text
                started = time.perf_counter()
                server.call("PUT", "/v1/applications/big/binary", session, json={"requirements": requirements})
                activations.append(time.perf_counter() - started)
    worst = max(activations)
    print(json.dumps({"files": FILES, "archive_mib": round(len(archive) / 2**20, 2),
                      "upload_seconds": [round(s, 2) for s in uploads],
                      "activation_seconds": [round(s, 2) for s in activations],
                      "activation_median_seconds": round(statistics.median(activations), 2),
                      "goal_seconds": GOAL_SECONDS, "met": worst < GOAL_SECONDS}, indent=2))
    return 0 if worst < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())

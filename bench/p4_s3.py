"""P4 with S3: a large payload through Runyard's presigned URLs, against the same client on SeaweedFS directly.

Starts SeaweedFS (``weed server -s3``) and ``runyard serve`` with ``RUNYARD_BLOB_URL=s3://…`` (stub
executor), both on loopback, then, in the same run and with the same client (``put_file`` and
``get_file`` of ``bench_signed_urls``: http.client, 1 MiB blocks):

- **via Runyard**: ``POST …/runs/uploadurl``, PUT the file to the URL it returns (SeaweedFS's own,
  presigned); a tracked run made from the upload (the claim: the upload is checked and pinned, or for
  a small one copied to an immutable key, inside SeaweedFS; timed on its own); ``GET …/runs/{id}/input?format=url`` and GET it.
- **direct**: the same PUT and GET to URLs presigned by the store itself, with no Runyard involved.

Three rounds, the order alternating (direct first, then Runyard first); the figure is the ratio of
the medians of the rounds. sha256 is checked both ways after the clock stops. Runyard's RSS and CPU
time are sampled while each transfer runs (neither should move: the bytes never reach it).

    python -m bench.p4_s3 [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import bench_signed_urls as signed
from bench.common import SetupError

MIB = signed.MIB
RATIO_GOAL = 0.9
ROUNDS = 3
BUCKET = "bench-p4"


def _direct_round(store: Any, source: Path, dest: Path, size: int) -> tuple[float, float, bool]:
    key = f"direct/{uuid.uuid4().hex}"
    up, (status, body) = signed.timed(lambda: signed.put_file(store.presign("PUT", key, 900), source, size))
    if status != 200:
        raise SetupError(f"direct PUT {status}: {body[:300]!r}")
    down, got = signed.timed(lambda: signed.get_file(store.presign("GET", key, 900), dest))
    ok = got == size
    store.delete(key)
    return up, down, ok


def _runyard_round(server: signed.Server, store: Any, source: Path, dest: Path, size: int, expected: str,
                   rss: dict[str, list[float]]) -> tuple[float, float, float, bool]:
    slot = server.call("POST", "/v1/applications/bench/runs/uploadurl")
    with signed.rss_peak(server.pid) as up_rss:
        up, (status, body) = signed.timed(lambda: signed.put_file(slot["upload_url"], source, size))
    if status != 200:
        raise SetupError(f"PUT through Runyard's URL {status}: {body[:300]!r}")
    claim, run = signed.timed(lambda: server.call(
        "POST", "/v1/applications/bench/runs", json={"upload_id": slot["upload_id"], "result": {"status": "succeeded"}}))
    url = server.call("GET", f"/v1/applications/bench/runs/{run['run_id']}/input", params={"format": "url"})["url"]
    with signed.rss_peak(server.pid) as down_rss:
        down, got = signed.timed(lambda: signed.get_file(url, dest))
    rss["growth_mib"] += [up_rss["peak"] - up_rss["before"], down_rss["peak"] - down_rss["before"]]
    rss["cpu_seconds"] += [up_rss["cpu"], down_rss["cpu"]]
    ok = got == size and signed.sha256_of(dest) == expected
    store.delete_prefix(f"uploads/{slot['upload_id']}")  # as the direct round deletes its object
    return up, down, claim, ok


def measure(size: int, work: Path) -> dict[str, Any]:
    from runyard.storage.blobs.backends.s3 import from_url
    from runyard.testing.seaweedfs import start_seaweedfs

    source, dest = work / "payload.bin", work / "payload.download"
    print(f"writing {size // MIB} MiB payload to {work} ...", flush=True)
    expected = signed.write_payload(source, size)
    try:
        s3 = start_seaweedfs()
    except RuntimeError as exc:
        raise SetupError(str(exc)) from None
    server = signed.Server(work)
    server.extra_env = {**s3.env(), "RUNYARD_BLOB_URL": f"s3://{BUCKET}/runyard?create=true"}
    try:
        store = from_url(f"s3://{BUCKET}/runyard?create=true", environ=s3.env())
        server.start()
        server.call("POST", "/v1/applications", json={"id": "bench", "name": "bench"})
        small = work / "warm.bin"
        warm_digest = signed.write_payload(small, 256 * 1024)
        _direct_round(store, small, work / "warm.down", 256 * 1024)
        _runyard_round(server, store, small, work / "warm.down", 256 * 1024, warm_digest, {"growth_mib": [], "cpu_seconds": []})
        direct: dict[str, list[float]] = {"upload": [], "download": []}
        runyard: dict[str, list[float]] = {"upload": [], "download": [], "claim": []}
        rss: dict[str, list[float]] = {"growth_mib": [], "cpu_seconds": []}
        ok = True
        for i in range(ROUNDS):
            order = ["direct", "runyard"] if i % 2 == 0 else ["runyard", "direct"]
            for who in order:
                if who == "direct":
                    up, down, good = _direct_round(store, source, dest, size)
                    direct["upload"].append(up)
                    direct["download"].append(down)
                else:
                    up, down, claim, good = _runyard_round(server, store, source, dest, size, expected, rss)
                    runyard["upload"].append(up)
                    runyard["download"].append(down)
                    runyard["claim"].append(claim)
                ok = ok and good
                dest.unlink(missing_ok=True)
    finally:
        server.stop()
        s3.destroy()
    mib = size / MIB

    def rate(seconds: list[float]) -> float:
        return round(mib / statistics.median(seconds), 1)

    out: dict[str, Any] = {"size_mib": size // MIB, "rounds": ROUNDS, "sha256_ok": ok,
                           "rss_growth_mib_max": round(max(rss["growth_mib"]), 1),
                           "server_cpu_seconds_max": round(max(rss["cpu_seconds"]), 2),
                           "claim_seconds": [round(c, 3) for c in runyard["claim"]]}
    for name in ("upload", "download"):
        d, r = rate(direct[name]), rate(runyard[name])
        out[name] = {"direct_mib_s": d, "runyard_mib_s": r, "ratio": round(r / d, 3),
                     "direct_seconds": [round(s, 2) for s in direct[name]],
                     "runyard_seconds": [round(s, 2) for s in runyard[name]]}
    out["goal"] = {"ratio_at_least": RATIO_GOAL,
                   "met": ok and all(out[n]["ratio"] >= RATIO_GOAL for n in ("upload", "download"))}
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return out


def run(work: Path, quick: bool) -> dict[str, Any]:
    """The suite's entry (``python -m bench --only P4S3``)."""
    result = measure((64 if quick else 1024) * MIB, work)
    if not result["sha256_ok"]:
        raise SetupError("the payload did not round-trip through Runyard's presigned URLs (sha256 mismatch)")
    return {"id": "P4S3", **result,
            "baseline_is": "the same http.client PUT/GET to URLs presigned by the store, straight to SeaweedFS"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="Payload size in MiB (default 1024).")
    parser.add_argument("--dir", type=Path, default=None, help="Where to put the payload (default: a temp dir).")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="runyard-bench-s3-", dir=args.dir))
    try:
        result = measure(args.size_mib * MIB, work)
    except SetupError as exc:
        print(f"benchmark setup failed: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    for name in ("upload", "download"):
        r = result[name]
        print(f"{name}: via Runyard {r['runyard_mib_s']} MiB/s, direct {r['direct_mib_s']} MiB/s, {r['ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""P4: a large payload up and down through signed URLs, against a copy of the same file on the same disk.

The measurement is ``bench_signed_urls.measure`` (see that module and ``bench/README.md``); this
wrapper picks the size by mode and turns its result into the suite's shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import bench_signed_urls as signed
from bench.common import SetupError

MIB = signed.MIB


def run(work: Path, quick: bool) -> dict[str, Any]:
    size_mib = 64 if quick else 1024
    try:
        results = signed.measure(size_mib * MIB, work)
    except signed.SetupError as exc:
        raise SetupError(str(exc)) from None
    for name in ("upload", "download"):
        if not results[name]["sha256_ok"]:
            raise SetupError(f"the {name} did not round-trip the payload (sha256 mismatch)")
    return {
        "id": "P4",
        **results,
        "baseline_is": "shutil.copyfile of the same file on the same disk",
        "goal": {"ratio_at_least": signed.THROUGHPUT_TARGET_RATIO, "rss_growth_below_mib": signed.RSS_TARGET_MIB,
                 "met": results["targets"]["met"]},
    }

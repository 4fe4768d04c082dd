"""P1W: P1 with a webhook on every status change whose receiver takes 10 s to answer each POST.

Issue 20: "a slow receiver (10 s) leaves P1 within its goal". The same runs and the same baseline as P1
(``bench/p1_latency.py``); the server also delivers each run's three status changes to a receiver on
loopback that holds every request 10 s before it answers 200.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import p1_latency


def run(work: Path, quick: bool) -> dict[str, Any]:
    return p1_latency.run(work, quick, slow_receiver=True)

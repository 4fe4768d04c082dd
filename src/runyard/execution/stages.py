"""Stage timestamps along a run's way through the platform, for finding where its latency goes
(``bench/stages.py``). Off unless ``RUNYARD_TRACE_STAGES`` names a file: then every process that handles
part of a run (the server, a Ray supervisor, a node's worker) appends ``RUN_ID STAGE UNIX_TIME PID``
lines to it. The stages, in order: ``dispatched`` (claimed, handed to the executor), ``supervisor``
(Ray: the supervisor took it), ``node`` (Ray: the task started on a node), ``launch`` (workspace, input
and environment ready, sandbox about to spawn), ``prestarted`` (its sandbox was started ahead: the run is
handed to it), ``exited`` (the app's processes are gone),
``published`` (output and log stored), ``reported`` (Ray: the supervisor has the report),
``collected`` (Ray: the server has it), ``recorded`` (the run's end is committed)."""

from __future__ import annotations

import os
import time

ENV = "RUNYARD_TRACE_STAGES"


def mark(run_id: str, stage: str) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    line = f"{run_id} {stage} {time.time():.6f} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)  # one write of a short line to an O_APPEND file: lines never interleave
    finally:
        os.close(fd)

"""Where a run's time goes: stage timestamps (``runyard.execution.stages``) of trivial runs, one at a time
and in a batch, on the Ray executor (the three-node loopback cluster of ``bench/ray_cluster.py``) or the
embedded one, beside the baseline of P1/P2 measured in the same run.

    .venv/bin/python -m bench.stages --executor ray [--runs 40] [--batch 60]
    .venv/bin/python -m bench.stages --executor embedded

Prints, for the one-at-a-time runs, the p50 of each stage's share (client POST → dispatched →
supervisor → node → launch → exited → published → reported → collected → recorded → client has the
result), the total against the baseline's p50, and for the batch the rate against the baseline's,
with the load average before and after. Figures are ratios and stage times measured together: the
machine is shared, and absolute times move with its load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    ENV_DIR,
    TRIVIAL_INPUT,
    Server,
    check_result,
    deploy,
    execution_overrides,
    write_trivial_app,
)

STAGES = ["dispatched", "supervisor", "node", "launch", "prestarted", "x_cmd", "x_cgroup", "x_spawned", "x_exitseen", "x_reaped", "x_processdone", "exited", "published", "reported", "collected", "recorded"]
WORKERS = 3


def read_marks(path: Path) -> dict[str, dict[str, float]]:
    marks: dict[str, dict[str, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            run_id, stage, at, _pid = line.split()
            marks.setdefault(run_id, {}).setdefault(stage, float(at))  # the first mark of a stage
    return marks


def breakdown(marks: dict[str, dict[str, float]], client: dict[str, tuple[float, float]]) -> list[tuple[str, float]]:
    """p50 in ms of each step between consecutive stages present, from the POST to the result."""
    steps: dict[str, list[float]] = {}
    for run_id, (sent, got) in client.items():
        seen = marks.get(run_id, {})
        points = [("client POST", sent)] + [(s, seen[s]) for s in STAGES if s in seen] + [("client result", got)]
        for (a, ta), (b, tb) in zip(points, points[1:], strict=False):
            steps.setdefault(f"{a} → {b}", []).append((tb - ta) * 1000)
    return [(name, statistics.median(values)) for name, values in steps.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", choices=["ray", "embedded"], default="ray")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    trace = work / "stages.log"
    os.chmod(work, 0o755)
    app_dir = write_trivial_app(work / "app")
    load_before = os.getloadavg()
    cluster = None
    env = {"RUNYARD_TRACE_STAGES": str(trace), "RUNYARD_BLOB_URL": f"file://{work / 'blobs'}"}
    # Settings to compare with, passed on to the server (e.g. RUNYARD_EXECUTION__PRESTART_SANDBOXES=false).
    env.update(execution_overrides())
    classes = {"c": {"concurrency": WORKERS, "cores": 1, "memory_mb": 512, "max_duration_seconds": 300}}
    env.update(RUNYARD_EXECUTION__CLASSES=json.dumps(classes), RUNYARD_EXECUTION__DEFAULT_CLASS="c")
    if args.executor == "ray":
        from runyard.testing.ray_cluster import RayCluster

        cluster = RayCluster(root=work / "cluster", env={"RUNYARD_TRACE_STAGES": str(trace)}).start()
    try:
        server = Server(work / "server", executor=cluster.address if cluster else "embedded", extra_env=env)
        with server:
            app, instance = deploy(server, app_dir, "stages")
            floor_one, floor_batch, close = _baseline(cluster, app_dir)
            try:
                def runyard_one() -> tuple[str, float, float]:
                    sent = time.time()
                    result = app.new_run_with_result(input=TRIVIAL_INPUT, instance_id=instance)
                    got = time.time()
                    check_result(result, TRIVIAL_INPUT)
                    return result.id, sent, got

                for _ in range(2 * WORKERS):  # environments built, workers warm
                    runyard_one()
                    floor_one()
                client: dict[str, tuple[float, float]] = {}
                floor: list[float] = []
                while len(client) < args.runs:
                    for _ in range(10):
                        run_id, sent, got = runyard_one()
                        client[run_id] = (sent, got)
                    floor.extend(floor_one() for _ in range(10))

                batch_client: dict[str, tuple[float, float]] = {}

                def runyard_batch() -> float:
                    started = time.perf_counter()
                    t0 = time.time()
                    with ThreadPoolExecutor(8) as pool:
                        ids = list(pool.map(lambda _: app.new_run(input=TRIVIAL_INPUT, instance_id=instance), range(args.batch)))

                    def wait(run_id: str) -> Any:
                        result = app.run_result_with_polling(run_id)
                        batch_client[run_id] = (t0, time.time())
                        return result

                    with ThreadPoolExecutor(32) as pool:
                        results = list(pool.map(wait, ids))
                    for result in results:
                        check_result(result)
                    return time.perf_counter() - started

                before = floor_batch(args.batch)
                batch = runyard_batch()
                after = floor_batch(args.batch)
            finally:
                close()
    finally:
        if cluster is not None:
            cluster.stop()
    load_after = os.getloadavg()
    marks = read_marks(trace)
    totals = [(got - sent) * 1000 for sent, got in client.values()]
    print(f"executor {args.executor}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"one at a time, {len(client)} runs: p50 {statistics.median(totals):.1f} ms; "
          f"baseline p50 {statistics.median(floor) * 1000:.1f} ms; overhead {statistics.median(totals) - statistics.median(floor) * 1000:+.1f} ms")
    ahead = sum(1 for run_id in client if "prestarted" in marks.get(run_id, {}))
    print(f"  ({ahead} of {len(client)} in a sandbox started ahead)")
    for name, ms in breakdown(marks, client):
        print(f"  {name:32s} {ms:8.1f} ms")
    print(f"batch, {len(batch_client)} runs (the first step counts from the batch's start):")
    for name, ms in breakdown(marks, batch_client):
        print(f"  {name:32s} {ms:8.1f} ms")
    floor_rate = 2 * args.batch / (before + after)
    print(f"batch of {args.batch}, {WORKERS} at once: {args.batch / batch:.1f} runs/s; baseline {floor_rate:.1f} runs/s; "
          f"ratio {args.batch / batch / floor_rate:.2f}x")


def _baseline(cluster: Any, app_dir: Path) -> tuple[Any, Any, Any]:
    """(one, batch(n), close): the same subprocess in a bare Ray task, or a plain subprocess/thread pool."""
    import subprocess

    from runyard.execution.runtime.envs import EnvironmentBuilder

    python = str(EnvironmentBuilder(root=ENV_DIR).ensure([], lambda line: None))
    stdin = json.dumps(TRIVIAL_INPUT).encode()
    main = str(app_dir / "main.py")

    if cluster is None:
        def one() -> float:
            started = time.perf_counter()
            subprocess.run([python, main], input=stdin, capture_output=True, cwd=app_dir, check=True)
            return time.perf_counter() - started

        def batch(n: int) -> float:
            started = time.perf_counter()
            with ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(lambda _: one(), range(n)))
            return time.perf_counter() - started

        return one, batch, lambda: None

    import ray

    from runyard.execution.backends.ray import join_cluster

    join_cluster(ray, cluster.address, "bench-stages-floor")

    def bare_task(python: str, main: str, stdin: bytes, cwd: str) -> bytes:
        import os
        import subprocess

        proc = subprocess.run([python, main], input=stdin, capture_output=True, cwd=cwd,
                              env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", "HOME": cwd})
        return proc.stdout

    bare = ray.remote(num_cpus=1, max_retries=0)(bare_task)
    task_args = (python, main, stdin, str(app_dir))

    def ray_one() -> float:
        started = time.perf_counter()
        ray.get(bare.remote(*task_args))
        return time.perf_counter() - started

    def ray_batch(n: int) -> float:
        started = time.perf_counter()
        pending: list[Any] = []
        for _ in range(n):
            if len(pending) >= WORKERS:
                _, pending = ray.wait(pending, num_returns=1)
            pending.append(bare.remote(*task_args))
        ray.get(pending)
        return time.perf_counter() - started

    return ray_one, ray_batch, ray.shutdown


if __name__ == "__main__":
    main()

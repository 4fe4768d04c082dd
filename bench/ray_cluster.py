"""P1 and P2 on Ray: Runyard with the Ray executor on a real three-node loopback cluster, against bare
Ray tasks on the same cluster in the same run.

The cluster: a head and two worker nodes (one CPU each), separate ``ray start`` processes in a network
namespace of their own (``runyard.testing.ray_cluster``). Runyard: ``runyard serve`` with one execution
class of concurrency 3 (one run per node), the trivial app of P1/P2; runs execute on the nodes in their
sandbox. Baseline: a Ray task (``num_cpus=1``, ``max_retries=0``) that spawns the same interpreter on the
same ``main.py`` with the input on stdin, submitted the way the server joins.

Both ways a server joins the cluster are measured, each against a baseline joined the same way:

- **through the client port** (``RUNYARD_EXECUTOR=ray://HOST:10001``): the server and the baseline's
  driver are on this machine, outside the cluster's network, and reach the head's client server
  through a bridge;
- **as a driver** (``RUNYARD_EXECUTOR=ray`` with ``RAY_ADDRESS=HOST:6379``), as a server running on a
  machine of the cluster does: this benchmark runs itself again inside the cluster's network namespace,
  where the server and the baseline join the head's GCS directly.

- **P1 on Ray**: one run at a time, ``new_run_with_result`` against ``ray.get(task.remote())``, in
  alternating blocks of ten. Goal: overhead < 20 ms at p50.
- **P2 on Ray**: N runs submitted at once (8 client threads, results awaited with long-polls), against
  N bare tasks with at most 3 in flight (the same parallelism). Goal: ≥ 0.8×.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    ENV_DIR,
    TRIVIAL_INPUT,
    Server,
    SetupError,
    check_result,
    deploy,
    on_machine,
    summary_ms,
    write_trivial_app,
)
from bench.p2_throughput import sandbox_ceiling

P1_GOAL_MS = 20.0
P2_GOAL = 0.8
WORKERS = 3
BLOCK = 10
CLASS = "ray3"


def run(work: Path, quick: bool) -> dict[str, Any]:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SetupError("Ray is not installed: pip install 'runyard[ray]'") from None
    from runyard.testing.ray_cluster import GCS_PORT, RayCluster

    cluster = RayCluster(root=work / "cluster").start()
    try:
        client = measure(work / "client-port", quick, cluster.address)
        assert cluster.ns is not None
        inside = subprocess.run(
            cluster.ns.command([sys.executable, "-m", "bench.ray_cluster", str(work / "driver"), "quick" if quick else "full",
                                f"127.0.0.1:{GCS_PORT}"]),
            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=3600)
        if inside.returncode != 0:
            raise SetupError(f"the benchmark inside the cluster's network failed:\n{inside.stderr[-3000:]}")
        driver = json.loads(inside.stdout.strip().splitlines()[-1])
    finally:
        cluster.stop()
    # What sandboxing a run costs the machine (P2's measure, on the machine the nodes share), against
    # what a bare task costs it in each half: the best P2 on Ray can reach if nothing else cost a thing.
    sandbox = sandbox_ceiling(work / "sandbox", write_trivial_app(work / "sandbox-app"), 60 if quick else 200, prestarted=False)
    if sandbox is not None:
        extra = sandbox["sandboxed_cpu_ms_per_run"] - sandbox["bare_cpu_ms_per_run"]
        for half in (client, driver):
            floor_cpu = half["p2"]["machine_cpu_ms_per_run"]["baseline"]
            half["p2"]["sandbox_ceiling"] = {"sandbox_cpu_ms_per_run": round(extra, 1),
                                             "ratio": round(floor_cpu / (floor_cpu + extra), 3)}
    return {
        "id": "RAY",
        "cluster": "head + 2 worker nodes, 1 CPU each, loopback-only network namespace",
        "client_port": client,
        "driver": driver,
        # The goals' figures: the better way a server can join (a server on a machine of the cluster joins as a driver).
        "p1": driver["p1"],
        "p2": driver["p2"],
    }


def measure(work: Path, quick: bool, address: str) -> dict[str, Any]:
    """P1 and P2 on Ray for a server joined at ``address`` (``ray://…``: the client port; ``HOST:PORT``:
    the GCS, as a driver), against bare tasks of a driver joined at the same address."""
    import ray

    from runyard.execution.backends.ray import join_cluster
    from runyard.execution.runtime.envs import EnvironmentBuilder

    n1 = 30 if quick else 100
    n2 = 60 if quick else 300
    app_dir = write_trivial_app(work / "app")
    python = str(EnvironmentBuilder(root=ENV_DIR).ensure([], lambda line: None))  # the interpreter
    stdin = json.dumps(TRIVIAL_INPUT).encode()
    classes = {CLASS: {"concurrency": WORKERS, "cores": 1, "memory_mb": 512, "max_duration_seconds": 300}}
    env = {"RUNYARD_EXECUTION__CLASSES": json.dumps(classes), "RUNYARD_EXECUTION__DEFAULT_CLASS": CLASS,
           "RUNYARD_BLOB_URL": f"file://{work / 'blobs'}", "RUNYARD_EXECUTION__RAY_NAMESPACE": f"bench-{work.name}"}
    client_port = address.startswith("ray://")
    if not client_port:
        env["RAY_ADDRESS"] = address
    server = Server(work / "server", executor=address if client_port else "ray", extra_env=env)
    with server:
        app, instance = deploy(server, app_dir, "ray-trivial")
        join_cluster(ray, address, "bench-floor")
        try:
            def bare_task(python: str, main: str, stdin: bytes, cwd: str) -> bytes:
                # (Defined here: pickled by value, since the nodes cannot import the bench package.)
                import os
                import subprocess

                proc = subprocess.run([python, main], input=stdin, capture_output=True, cwd=cwd,
                                      env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", "HOME": cwd})
                if proc.returncode != 0:
                    raise RuntimeError(f"the bare task's subprocess failed: {proc.stderr[-300:]!r}")
                return proc.stdout

            bare = ray.remote(num_cpus=1, max_retries=0)(bare_task)
            args = (python, str(app_dir / "main.py"), stdin, str(app_dir))

            def floor_one() -> float:
                started = time.perf_counter()
                out = ray.get(bare.remote(*args))
                elapsed = time.perf_counter() - started
                if json.loads(out)["solution"] != TRIVIAL_INPUT:
                    raise SetupError("the bare task returned the wrong output")
                return elapsed

            def runyard_one() -> float:
                started = time.perf_counter()
                result = app.new_run_with_result(input=TRIVIAL_INPUT, instance_id=instance)
                elapsed = time.perf_counter() - started
                check_result(result, TRIVIAL_INPUT)
                return elapsed

            for _ in range(2 * WORKERS):  # every node builds (or finds) the environment, every worker warms up
                runyard_one()
                floor_one()
            runyard: list[float] = []
            floor: list[float] = []
            while len(runyard) < n1:
                block = min(BLOCK, n1 - len(runyard))
                runyard.extend(runyard_one() for _ in range(block))
                floor.extend(floor_one() for _ in range(block))

            def floor_batch() -> float:
                started = time.perf_counter()
                pending, done = [], 0
                for _ in range(n2):
                    if len(pending) >= WORKERS:
                        ready, pending = ray.wait(pending, num_returns=1)
                        done += len(ready)
                    pending.append(bare.remote(*args))
                ray.get(pending)
                return time.perf_counter() - started

            def runyard_batch() -> float:
                started = time.perf_counter()
                with ThreadPoolExecutor(8) as pool:
                    run_ids = list(pool.map(lambda _: app.new_run(input=TRIVIAL_INPUT, instance_id=instance), range(n2)))
                with ThreadPoolExecutor(32) as pool:
                    results = list(pool.map(app.run_result_with_polling, run_ids))
                elapsed = time.perf_counter() - started
                for result in results:
                    check_result(result)
                return elapsed

            before, before_cpu = on_machine(floor_batch)
            batch, runyard_cpu = on_machine(runyard_batch)
            after, after_cpu = on_machine(floor_batch)
        finally:
            ray.shutdown()
    r, b = summary_ms(runyard), summary_ms(floor)
    overhead = round(r["p50_ms"] - b["p50_ms"], 2)
    floor_rate = 2 * n2 / (before + after)
    rate = n2 / batch
    joined = "through the client port" if client_port else "as a driver of the head's GCS"
    return {
        "joined": joined,
        "p1": {"runs": n1, "runyard": r, "baseline": b, "overhead_p50_ms": overhead,
               "baseline_is": f"ray.get() of one bare Ray task spawning the same interpreter on the same main.py, joined {joined}",
               "goal": {"overhead_p50_below_ms": P1_GOAL_MS, "met": overhead < P1_GOAL_MS}},
        "p2": {"runs": n2, "workers": WORKERS, "runyard_seconds": round(batch, 2), "runyard_runs_per_s": round(rate, 1),
               "baseline_runs_per_s": round(floor_rate, 1), "baseline_before_after_s": [round(before, 2), round(after, 2)],
               "baseline_is": f"{n2} bare Ray tasks spawning the same subprocess, at most {WORKERS} in flight, right before and after",
               "ratio": round(rate / floor_rate, 3), "goal": {"ratio_at_least": P2_GOAL, "met": rate / floor_rate >= P2_GOAL},
               "machine_cpu_ms_per_run": {"runyard": round(runyard_cpu / n2 * 1000, 1),
                                          "baseline": round((before_cpu + after_cpu) / (2 * n2) * 1000, 1)}},
    }


if __name__ == "__main__":  # the driver half, run inside the cluster's network namespace by ``run``
    _work, _mode, _gcs = sys.argv[1:4]
    print(json.dumps(measure(Path(_work), _mode == "quick", _gcs)))

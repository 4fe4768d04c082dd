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
- **P2 on Ray**: N runs as P2 measures them on one machine: one batch experiment of N repetitions, its
  metadata polled every 50 ms until it completes, against N bare tasks with at most 3 in flight (the
  same parallelism), measured right before and right after it. Goal: ≥ 0.8×. Both sides are warmed up
  first by an untimed batch at full parallelism: a cold floor starts Ray's worker processes as it goes,
  which halved it. The same N runs submitted one request each (8 client threads, results awaited with
  long-polls) are reported beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench_signed_urls import cpu_seconds
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
from bench.p2_throughput import EXPERIMENT_POLL_SECONDS, one_experiment, sandbox_ceiling

P1_GOAL_MS = 20.0
P2_GOAL = 0.8
WORKERS = 3
BLOCK = 10
WARM = 60  # untimed runs at full parallelism before P2's measures, on each side
POLLS = 40  # metadata reads timed to tell the experiment's polls from the server's work for each run
CLASS = "ray3"


def run(work: Path, quick: bool) -> dict[str, Any]:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SetupError("Ray is not installed: pip install 'runyard[ray]'") from None
    from runyard.testing.ray_cluster import GCS_PORT, RayCluster

    # Two drivers share the cluster (the server's supervisor and the baseline's), and Ray keeps a worker
    # process for one job only: with its default of as many idle workers as a node has CPUs, each side's
    # batch began by killing the other's workers and starting its own (about a second each, which halved
    # a batch of 60). Room for both keeps each side's workers warm, as on a cluster Runyard has to itself.
    cluster = RayCluster(root=work / "cluster", env={"RAY_num_workers_soft_limit": str(2 * WORKERS)}).start()
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
        cores = os.cpu_count() or 1
        for half in (client, driver):
            p2 = half["p2"]
            floor_cpu = p2["machine_cpu_ms_per_run"]["baseline"]
            p2["sandbox_ceiling"] = {"sandbox_cpu_ms_per_run": round(extra, 1),
                                     "ratio": round(floor_cpu / (floor_cpu + extra), 3)}
            # The most P2 on Ray could reach on this machine if Runyard kept every core busy (the
            # baseline leaves some idle) and cost nothing but a bare task's work, the sandbox, its
            # server's bookkeeping of each run (the experiment's polls left out) and the supervisor
            # that owns the tasks so that they outlive the server: the runner on the node free.
            least_ms = floor_cpu + extra + p2["server_bookkeeping_ms_per_run"] + p2["supervisor_cpu_ms_per_run"]
            p2["bound"] = {"cores": cores, "baseline_busy": round(p2["baseline_runs_per_s"] * floor_cpu / 1000 / cores, 3),
                           "least_cpu_ms_per_run": round(least_ms, 1),
                           "ratio": round(cores * 1000 / least_ms / p2["baseline_runs_per_s"], 3)}
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

            def floor_batch(n: int = n2) -> float:
                started = time.perf_counter()
                pending = []
                for _ in range(n):
                    if len(pending) >= WORKERS:
                        _, pending = ray.wait(pending, num_returns=1)
                    pending.append(bare.remote(*args))
                ray.get(pending)
                return time.perf_counter() - started

            def singles() -> float:
                started = time.perf_counter()
                with ThreadPoolExecutor(8) as pool:
                    run_ids = list(pool.map(lambda _: app.new_run(input=TRIVIAL_INPUT, instance_id=instance), range(n2)))
                with ThreadPoolExecutor(32) as pool:
                    results = list(pool.map(app.run_result_with_polling, run_ids))
                elapsed = time.perf_counter() - started
                for result in results:
                    check_result(result)
                return elapsed

            upload = app.upload_url()
            app.upload_large_input(input=TRIVIAL_INPUT, upload_url=upload)
            managed = app.new_managed_input(id="ray-p2-input", name="P2 on Ray", upload_id=upload.upload_id)
            # Untimed, at full parallelism: every node's worker processes started, sandboxes and caches warm.
            floor_batch(WARM)
            one_experiment(server, app, instance, managed.id, WARM, "ray-p2-warm")
            before, before_cpu = on_machine(floor_batch)
            supervisor_before = _supervisors_cpu()
            experiment = one_experiment(server, app, instance, managed.id, n2, "ray-p2")
            supervisor_ms = (_supervisors_cpu() - supervisor_before) / n2 * 1000
            after, after_cpu = on_machine(floor_batch)
            # What the experiment's polls cost the server, to tell its bookkeeping of each run apart.
            metadata = f"{app.experiments_endpoint}/batch/ray-p2/metadata"
            cpu_before = cpu_seconds(server.pid)
            for _ in range(POLLS):
                app.client.request("GET", metadata)
            poll_ms = (cpu_seconds(server.pid) - cpu_before) / POLLS * 1000
            polls = experiment["seconds"] / EXPERIMENT_POLL_SECONDS  # at most
            bookkeeping_ms = max(0.0, experiment["server_cpu_ms_per_run"] - polls * poll_ms / n2)
            single_seconds, single_cpu = on_machine(singles)
        finally:
            ray.shutdown()
    r, b = summary_ms(runyard), summary_ms(floor)
    overhead = round(r["p50_ms"] - b["p50_ms"], 2)
    floor_rate = 2 * n2 / (before + after)
    rate = experiment["runs_per_s"]
    joined = "through the client port" if client_port else "as a driver of the head's GCS"
    return {
        "joined": joined,
        "p1": {"runs": n1, "runyard": r, "baseline": b, "overhead_p50_ms": overhead,
               "baseline_is": f"ray.get() of one bare Ray task spawning the same interpreter on the same main.py, joined {joined}",
               "goal": {"overhead_p50_below_ms": P1_GOAL_MS, "met": overhead < P1_GOAL_MS}},
        "p2": {"runs": n2, "workers": WORKERS, "runyard_seconds": experiment["seconds"], "runyard_runs_per_s": rate,
               "runyard_is": f"one batch experiment of {n2} runs, its metadata polled every 50 ms",
               "baseline_runs_per_s": round(floor_rate, 1), "baseline_before_after_s": [round(before, 2), round(after, 2)],
               "baseline_is": f"{n2} bare Ray tasks spawning the same subprocess, at most {WORKERS} in flight, "
                              "warmed up, right before and after",
               "ratio": round(rate / floor_rate, 3), "goal": {"ratio_at_least": P2_GOAL, "met": rate / floor_rate >= P2_GOAL},
               "machine_cpu_ms_per_run": {"runyard": experiment["machine_cpu_ms_per_run"],
                                          "baseline": round((before_cpu + after_cpu) / (2 * n2) * 1000, 1)},
               "server_cpu_ms_per_run": experiment["server_cpu_ms_per_run"],
               "server_bookkeeping_ms_per_run": round(bookkeeping_ms, 1),
               "supervisor_cpu_ms_per_run": round(supervisor_ms, 1),
               "metadata_poll_server_cpu_ms": round(poll_ms, 2),
               "single_submissions": {"runs_per_s": round(n2 / single_seconds, 1),
                                      "ratio": round(n2 / single_seconds / floor_rate, 3),
                                      "machine_cpu_ms_per_run": round(single_cpu / n2 * 1000, 1),
                                      "is": f"{n2} runs, one request each from 8 client threads, results awaited by 32 long-polls"}},
    }


def _supervisors_cpu() -> float:
    """CPU seconds of the supervisor actors' processes on this machine (the cluster's nodes are here)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read(16).startswith(b"ray::Supervisor"):
                        total += cpu_seconds(int(entry))
            except OSError:
                continue
    return total


if __name__ == "__main__":  # the driver half, run inside the cluster's network namespace by ``run``
    _work, _mode, _gcs = sys.argv[1:4]
    print(json.dumps(measure(Path(_work), _mode == "quick", _gcs)))

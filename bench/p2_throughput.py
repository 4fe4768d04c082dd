"""P2: throughput of a fan-out of trivial runs with W workers.

Runyard, on a server whose execution class has concurrency W, two ways:

* **batch experiment** (the goal's figure): one ``new_batch_experiment`` request asks for the N runs
  (one managed input, N repetitions), as a batch experiment fans out; the clock runs from that request
  until the experiment reports every run ended (its metadata polled every 50 ms). Afterwards every run
  must have succeeded and a sample of outputs must echo the input. The full mode measures five rounds,
  each an experiment between two baseline measurements (one right before, one right after; the
  round's baseline is both together), and reports the round with the median ratio.
* **N single submissions**: 8 client threads submit the runs one request each with Runyard's SDK, then
  32 threads wait for each result with long-polls; the clock runs from the first submission to the last
  result in hand. The client's own requests share the machine's cores with the server and the runs.

Baseline: ``ThreadPoolExecutor(W)`` running the same subprocesses (the app's interpreter, input on stdin).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench_signed_urls import cpu_seconds
from bench.common import (
    TRIVIAL_INPUT,
    Server,
    SetupError,
    app_env_python,
    check_result,
    deploy,
    machine_cpu_seconds,
    on_machine,
    run_subprocess,
    write_trivial_app,
)

GOAL_RATIO = 0.85  # against a ThreadPoolExecutor floor that runs without a sandbox
SUBMITTERS = 8
WAITERS = 32
EXPERIMENT_POLL_SECONDS = 0.05


def _runyard(work: Path, app_dir: Path, workers: int, n: int) -> dict[str, Any]:
    with Server(work / f"server-w{workers}", concurrency=workers) as server:
        app, instance = deploy(server, app_dir, f"p2-w{workers}")
        for _ in range(2):
            check_result(app.new_run_with_result(input=TRIVIAL_INPUT, instance_id=instance), TRIVIAL_INPUT)
        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(SUBMITTERS) as pool:
            run_ids = list(pool.map(lambda _: app.new_run(input=TRIVIAL_INPUT, instance_id=instance), range(n)))
        submitted = time.perf_counter() - started
        with ThreadPoolExecutor(WAITERS) as pool:
            results = list(pool.map(app.run_result_with_polling, run_ids))
        seconds = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pid) - cpu_before
    for result in results:
        check_result(result, TRIVIAL_INPUT)
    if len({r.id for r in results}) != n:
        raise SetupError("runs were lost or duplicated")
    return {"seconds": round(seconds, 3), "runs_per_s": round(n / seconds, 2), "submit_seconds": round(submitted, 3),
            "server_cpu_ms_per_run": round(server_cpu / n * 1000, 1)}


def _experiment_rounds(work: Path, app_dir: Path, workers: int, n: int, rounds: int) -> list[dict[str, Any]]:
    """``rounds`` batch experiments of N runs on one server, each between two baseline measurements of
    the same N runs (right before and right after it): measured at the same moment, so a host that
    slows down or speeds up between rounds moves both sides of a ratio together, and one that drifts
    during a round weighs on the baseline before and after alike."""
    out = []
    with Server(work / f"server-exp-w{workers}", concurrency=workers) as server:
        app, instance = deploy(server, app_dir, f"p2-exp-w{workers}")
        for _ in range(2):
            check_result(app.new_run_with_result(input=TRIVIAL_INPUT, instance_id=instance), TRIVIAL_INPUT)
        upload = app.upload_url()
        app.upload_large_input(input=TRIVIAL_INPUT, upload_url=upload)
        managed = app.new_managed_input(id="p2-input", name="p2 input", upload_id=upload.upload_id)
        for k in range(rounds):
            before = _baseline(app_dir, workers, n)
            experiment = one_experiment(server, app, instance, managed.id, n, f"p2-fan-out-{k}")
            after = _baseline(app_dir, workers, n)
            seconds = before["seconds"] + after["seconds"]
            baseline = {"seconds": round(seconds, 3), "runs_per_s": round(2 * n / seconds, 2),
                        "before_runs_per_s": before["runs_per_s"], "after_runs_per_s": after["runs_per_s"],
                        "machine_cpu_ms_per_run": round((before["machine_cpu_ms_per_run"] + after["machine_cpu_ms_per_run"]) / 2, 1)}
            out.append({"runyard": experiment, "baseline": baseline,
                        "ratio": round(experiment["runs_per_s"] / baseline["runs_per_s"], 3)})
    return out


def one_experiment(server: Server, app: Any, instance: str, input_id: str, n: int, exp_id: str) -> dict[str, Any]:
    runs = [{"input_id": input_id, "instance_id": instance, "option_set": "none", "repetition": i} for i in range(n)]
    metadata = f"{app.experiments_endpoint}/batch/{exp_id}/metadata"
    cpu_before, machine_before = cpu_seconds(server.pid), machine_cpu_seconds()
    started = time.perf_counter()
    app.new_batch_experiment(name=exp_id, id=exp_id, runs=runs, option_sets={"none": {}})
    while (status := app.client.request("GET", metadata).json()["status"]) == "started":
        time.sleep(EXPERIMENT_POLL_SECONDS)
    seconds = time.perf_counter() - started
    server_cpu = cpu_seconds(server.pid) - cpu_before
    machine_cpu = machine_cpu_seconds() - machine_before
    if status != "completed":
        raise SetupError(f"the batch experiment ended {status}")
    listed = app.client.request("GET", f"{app.experiments_endpoint}/batch/{exp_id}/runs").json()["runs"]
    if len(listed) != n or {r["status_v2"] for r in listed} != {"succeeded"}:
        raise SetupError(f"the experiment has {len(listed)} runs, not {n} succeeded ones")
    for item in listed[:: max(1, n // 10)]:
        check_result(app.run_result(item["id"]), TRIVIAL_INPUT)
    return {"seconds": round(seconds, 3), "runs_per_s": round(n / seconds, 2),
            "server_cpu_ms_per_run": round(server_cpu / n * 1000, 1),
            "machine_cpu_ms_per_run": round(machine_cpu / n * 1000, 1)}


def _baseline(app_dir: Path, workers: int, n: int) -> dict[str, Any]:
    python = app_env_python([])
    stdin = json.dumps(TRIVIAL_INPUT).encode()
    main = app_dir / "main.py"
    started, machine_before = time.perf_counter(), machine_cpu_seconds()
    with ThreadPoolExecutor(workers) as pool:
        outputs = list(pool.map(lambda _: run_subprocess(python, main, stdin, app_dir), range(n)))
    seconds = time.perf_counter() - started
    machine_cpu = machine_cpu_seconds() - machine_before
    if any(json.loads(o)["solution"] != TRIVIAL_INPUT for o in outputs):
        raise SetupError("a baseline subprocess returned the wrong output")
    return {"seconds": round(seconds, 3), "runs_per_s": round(n / seconds, 2),
            "machine_cpu_ms_per_run": round(machine_cpu / n * 1000, 1)}


def sandbox_ceiling(work: Path, app_dir: Path, n: int, *, prestarted: bool = True) -> dict[str, Any] | None:
    """The best ratio a CPU-bound P2 could reach if the sandbox were Runyard's only cost: the machine's
    CPU per run of the baseline's process, bare and started in the sandbox as a run's is (one at a time,
    the machine's busy time over N runs), and with ``prestarted`` also in a sandbox started ahead. None
    where the machine has no sandbox."""
    from bench.p1_latency import _sandboxed

    python = app_env_python([])
    stdin = json.dumps(TRIVIAL_INPUT).encode()
    made = _sandboxed(work / "ceiling", app_dir, python, stdin)
    if made is None:
        return None
    cold, ahead = made

    def cpu_ms(one: Any) -> float:
        return on_machine(lambda: [one() for _ in range(n)])[1] / n * 1000

    bare = cpu_ms(lambda: run_subprocess(python, app_dir / "main.py", stdin, app_dir))
    sandboxed = cpu_ms(cold)
    out = {"runs": n, "bare_cpu_ms_per_run": round(bare, 1), "sandboxed_cpu_ms_per_run": round(sandboxed, 1),
           "ceiling_ratio": round(bare / sandboxed, 3)}
    if prestarted and ahead is not None:
        ahead_ms = cpu_ms(ahead)
        out.update(prestarted_cpu_ms_per_run=round(ahead_ms, 1), prestarted_ceiling_ratio=round(bare / ahead_ms, 3))
    return out


def run(work: Path, quick: bool) -> dict[str, Any]:
    n = 60 if quick else 300
    rounds = 1 if quick else 5
    app_dir = write_trivial_app(work / "app")
    rows = []
    for workers in (2, 4):
        pairs = _experiment_rounds(work, app_dir, workers, n, rounds)
        middle = sorted(pairs, key=lambda pair: pair["ratio"])[len(pairs) // 2]  # the median round
        singles = _runyard(work, app_dir, workers, n)
        rows.append({"workers": workers, "runyard": middle["runyard"], "baseline": middle["baseline"],
                     "ratio": middle["ratio"], "met": middle["ratio"] >= GOAL_RATIO, "rounds": pairs,
                     "single_submissions": singles,
                     "single_submissions_ratio": round(singles["runs_per_s"] / middle["baseline"]["runs_per_s"], 3)})
    ceiling = sandbox_ceiling(work, app_dir, 60 if quick else 200)
    return {
        "id": "P2",
        "runs": n,
        # What the sandbox alone leaves of the goal on this machine (every run's process is sandboxed; the floor's is not).
        "sandbox_ceiling": ceiling,
        "rounds": rounds,
        "by_workers": rows,
        "runyard_is": "one batch experiment of N runs (one managed input, N repetitions), until it reports them all ended",
        "single_submissions_are": "N new_run requests from 8 client threads, then long-polled results from 32",
        "baseline_is": "ThreadPoolExecutor(W) running the app's interpreter on main.py, input on stdin",
        "ratio_is": "the median over the rounds of (experiment runs/s ÷ the baseline measured right before and right after it, together)",
        "goal": {"ratio_at_least": GOAL_RATIO, "met": all(r["met"] for r in rows)},
    }

"""Runs on a real Ray cluster (a head and two worker nodes, loopback only) through a real server.

The server joins the cluster through its client port; the nodes execute runs in the same runtime and
sandbox as the embedded pool, fetch bundles and inputs from the blob store and write output and logs
back. What the platform promises holds across machines: classes pinned to nodes, concurrency per class
across the cluster, cancel, a node lost mid-run, a server killed mid-run whose successor adopts the
runs still executing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runyard.testing.ray_cluster import RayCluster

from .apps import steps
from .conftest import (
    SANDBOX_UID,
    ServerProcess,
    new_tool_app,
    result,
    run_log,
    sandbox_processes,
    submit,
    wait_for,
    wait_status,
)

CLASSES = {
    "c1": {"concurrency": 4, "max_duration_seconds": 300, "memory_mb": 1024},
    "one": {"concurrency": 1, "max_duration_seconds": 300, "memory_mb": 1024},
    "on-w1": {"concurrency": 2, "max_duration_seconds": 300, "memory_mb": 1024, "resources": {"w1": 1}},
    "on-w2": {"concurrency": 2, "max_duration_seconds": 300, "memory_mb": 1024, "resources": {"w2": 1}},
}


@pytest.fixture
def ray_server(server_process: Callable[..., ServerProcess], ray_cluster: RayCluster, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``ray_server(**env)``: ``runyard serve`` with the Ray executor, its own namespace on the cluster."""
    namespace = f"t-{uuid.uuid4().hex[:10]}"

    def make(**env: str) -> ServerProcess:
        base = {
            "RUNYARD_EXECUTOR": ray_cluster.address,
            "RUNYARD_BLOB_URL": f"file://{tmp_path / 'blobs'}",
            "RUNYARD_EXECUTION__RAY_NAMESPACE": namespace,
            "RUNYARD_EXECUTION__CLASSES": json.dumps(CLASSES),
            "RUNYARD_EXECUTION__DEFAULT_CLASS": "c1",
            "RUNYARD_EXECUTION__RAY_CANCEL_GRACE_SECONDS": "5",
        }
        base.update(env)
        return server_process(**base)

    yield make


def _node_of(meta_result: dict[str, Any]) -> str:
    cwd = meta_result["output"]["solution"]["cwd"]
    return next(name for name in ("w1", "w2", "head") if f"/{name}/" in cwd)


def _envs(node_dir: Path) -> dict[str, float]:
    root = node_dir / "envs"
    return {p.name: p.stat().st_mtime for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}


def test_runs_execute_on_the_nodes_their_class_names_sandboxed(ray_server, ray_cluster: RayCluster) -> None:  # type: ignore[no-untyped-def]
    server = ray_server()
    api = server.api()
    app = new_tool_app(api, "placed")
    placed = {}
    for cls in ("on-w1", "on-w2"):
        run_id = submit(api, app, steps({"log": f"on {cls}"}), configuration={"execution_class": cls})
        assert wait_status(api, app, run_id)["status_v2"] == "succeeded", run_log(api, app, run_id)
        out = result(api, app, run_id)
        placed[cls] = _node_of(out)
        assert f"on {cls}" in run_log(api, app, run_id)
        # The node's sandbox: not the server's environment, not root.
        assert "RUNYARD_NODE_DIR" not in out["output"]["solution"]["env_names"]
    assert placed == {"on-w1": "w1", "on-w2": "w2"}
    assert "Ray cluster" in server.api().get("/healthz").json()["sandbox"]
    # Each node built the app's environment in its own folder, once: another run there reuses it.
    built = _envs(ray_cluster.nodes["w1"].node_dir)
    assert built and _envs(ray_cluster.nodes["w2"].node_dir)
    again = submit(api, app, steps({"log": "again"}), configuration={"execution_class": "on-w1"})
    assert wait_status(api, app, again)["status_v2"] == "succeeded"
    assert _envs(ray_cluster.nodes["w1"].node_dir) == built


def test_a_class_concurrency_holds_across_the_cluster(ray_server, gates: Path) -> None:  # type: ignore[no-untyped-def]
    api = ray_server().api()
    app = new_tool_app(api, "limited")
    gate = gates / "open"
    first = submit(api, app, steps({"log": "first holding"}, {"wait_file": str(gate)}), configuration={"execution_class": "one"})
    wait_for(lambda: "first holding" in run_log(api, app, first), timeout=120, what="the first run to hold")
    second = submit(api, app, steps({"log": "second"}), configuration={"execution_class": "one"})
    time.sleep(2)  # three nodes with free CPUs: only the class's limit keeps the second queued
    assert wait_status(api, app, second, {"queued"}, timeout=1)["status_v2"] == "queued"
    gate.touch()
    assert wait_status(api, app, first)["status_v2"] == "succeeded"
    assert wait_status(api, app, second)["status_v2"] == "succeeded"


def test_cancel_ends_the_whole_process_tree_on_the_node(ray_server, gates: Path) -> None:  # type: ignore[no-untyped-def]
    """The graceful cancel reaches the node at once, well before the supervisor's forced kill (5 s
    here), and so does the next cancel of a run on the same node."""
    api = ray_server().api()
    app = new_tool_app(api, "canceled-on-ray")
    before = set(sandbox_processes())
    for attempt in range(2):
        run_id = submit(api, app, steps({"spawn_detached": ["sleep", "600"]}, {"log": "spawned"}, {"sleep": 600}),
                        configuration={"execution_class": "on-w2"})
        wait_for(lambda: "spawned" in run_log(api, app, run_id), timeout=120, what="the run to spawn")  # noqa: B023
        assert set(sandbox_processes()) - before, "the run's processes should be running on the node"
        asked = time.monotonic()
        assert api.patch(f"/v1/applications/{app}/runs/{run_id}/cancel").status_code == 200
        assert wait_status(api, app, run_id, timeout=15)["status_v2"] == "canceled"
        wait_for(lambda: not (set(sandbox_processes()) - before), timeout=5, what="every process of the run to end")
        assert time.monotonic() - asked < 4, f"cancel {attempt + 1} took the forced path, not the graceful one"


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, owner uid, start time in ticks) of every live process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            table[int(entry)] = (int(fields[1]), os.stat(f"/proc/{entry}").st_uid, fields[19])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return table


def _run_tree_on(node_pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of the processes a node runs as the sandbox uid: its runs' process trees,
    found through the kernel's parent links down from the node's ``ray start``."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [node_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if table[child][1] == SANDBOX_UID:
                found.add((child, table[child][2]))
    return found


def _still_alive(tree: set[tuple[int, str]]) -> set[tuple[int, str]]:
    table = _process_table()
    return {(pid, start) for pid, start in tree if pid in table and table[pid][2] == start}


def test_a_run_that_outlasts_the_graceful_cancel_is_force_killed_on_its_node(ray_server, ray_cluster: RayCluster) -> None:  # type: ignore[no-untyped-def]
    """The node's runner would wait two minutes between SIGTERM and SIGKILL, and the app ignores SIGTERM
    (so do its children): the graceful cancel cannot end the run. After the supervisor's grace its Ray
    worker is killed, the sandbox with it: every process of the run is gone, the run ends canceled,
    and the node keeps executing runs."""
    grace = 3.0
    server = ray_server(RUNYARD_EXECUTION__KILL_GRACE_SECONDS="120",
                        RUNYARD_EXECUTION__RAY_CANCEL_GRACE_SECONDS=str(grace))
    api = server.api()
    app = new_tool_app(api, "forced-on-ray")
    node = ray_cluster.nodes["w2"]
    run_id = submit(api, app, steps(
        {"trap_term": "app: SIGTERM ignored"},
        {"spawn": ["sh", "-c", "trap '' TERM; sleep 600 & exec sleep 600"]},  # children that ignore it too
        {"spawn_detached": ["sh", "-c", "trap '' TERM; exec sleep 600"]},
        {"log": "spawned"}, {"sleep": 600}), configuration={"execution_class": "on-w2"})
    wait_for(lambda: "spawned" in run_log(api, app, run_id), timeout=120, what="the run to spawn its children")
    # The app, its two children and the detached one, all on w2.
    wait_for(lambda: len(_run_tree_on(node.process.pid)) >= 4, timeout=10, what="the run's processes on w2")
    tree = _run_tree_on(node.process.pid)

    asked = time.monotonic()
    assert api.patch(f"/v1/applications/{app}/runs/{run_id}/cancel").status_code == 200
    # The graceful cancel reached the app, which went on: its processes outlive the TERM.
    wait_for(lambda: "app: SIGTERM ignored" in run_log(api, app, run_id), timeout=grace,
             what="the app to hear the graceful SIGTERM")
    assert _still_alive(tree) == tree
    gone_after: list[float] = []

    def tree_gone() -> bool:
        if _still_alive(tree):
            return False
        gone_after.append(time.monotonic() - asked)
        return True

    wait_for(tree_gone, timeout=grace + 30, what="every process of the run to end on its node")
    meta = wait_status(api, app, run_id, timeout=30)
    ended_after = time.monotonic() - asked
    assert meta["status_v2"] == "canceled", meta
    # Forced after the grace, not by the runner's two-minute TERM-to-KILL wait, nor before the grace.
    assert grace - 0.5 <= gone_after[0] < grace + 20, gone_after
    assert ended_after < grace + 30
    # The killed worker is replaced: the node executes the next run.
    after = submit(api, app, steps({"log": "next run"}), configuration={"execution_class": "on-w2"})
    assert wait_status(api, app, after, timeout=120)["status_v2"] == "succeeded", run_log(api, app, after)


def test_live_logs_while_a_run_goes_on_a_node(ray_server, gates: Path) -> None:  # type: ignore[no-untyped-def]
    api = ray_server().api()
    app = new_tool_app(api, "live-on-ray")
    gate = gates / "go"
    run_id = submit(api, app, steps({"log": "line one"}, {"wait_file": str(gate)}, {"log": "line two"}))
    wait_for(lambda: "line one" in run_log(api, app, run_id), timeout=120, what="the first line while the run goes")
    assert wait_status(api, app, run_id, {"running"}, timeout=1)["status_v2"] == "running"
    gate.touch()
    assert wait_status(api, app, run_id)["status_v2"] == "succeeded"
    assert "line two" in run_log(api, app, run_id)


@pytest.mark.parametrize("lost_runs", ["fail", "requeue"])
def test_a_worker_node_killed_mid_run(ray_server, ray_cluster: RayCluster, gates: Path, lost_runs: str) -> None:  # type: ignore[no-untyped-def]
    api = ray_server(RUNYARD_EXECUTION__LOST_RUNS=lost_runs, RUNYARD_EXECUTION__LEASE_SECONDS="6").api()
    app = new_tool_app(api, f"node-lost-{lost_runs}")
    gate = gates / "release"
    run_id = submit(api, app, steps({"log": "attempt started"}, {"wait_file": str(gate)}), configuration={"execution_class": "on-w1"})
    wait_for(lambda: "attempt started" in run_log(api, app, run_id), timeout=120, what="the run to start on w1")
    killed = time.monotonic()
    ray_cluster.kill_node("w1")
    try:
        if lost_runs == "fail":
            meta = wait_status(api, app, run_id, timeout=20)
            assert meta["status_v2"] == "failed"
            assert "worker node lost" in result(api, app, run_id)["metadata"]["error"]
        else:
            # (Queued again, it is claimed at once and waits on the cluster for a node with w1.)
            wait_for(lambda: "worker node lost" in run_log(api, app, run_id) and "queued again" in run_log(api, app, run_id),
                     timeout=20, what="the run to be queued again")
        assert time.monotonic() - killed < 20  # within the lease time and Ray's failure detection
        # Later runs keep flowing, on the nodes that are left.
        later = submit(api, app, steps({"log": "later"}))
        assert wait_status(api, app, later)["status_v2"] == "succeeded"
    finally:
        ray_cluster.restart_node("w1")
    if lost_runs == "requeue":  # the second attempt runs once w1 is back, exactly once more
        gate.touch()
        assert wait_status(api, app, run_id, timeout=180)["status_v2"] == "succeeded"
        assert run_log(api, app, run_id).count("attempt started") == 2


def test_a_server_killed_mid_run_is_succeeded_by_one_that_adopts_its_runs(ray_server, gates: Path) -> None:  # type: ignore[no-untyped-def]
    server = ray_server()
    api = server.api()
    app = new_tool_app(api, "adopted")
    gate = gates / "finish"
    run_id = submit(api, app, steps({"log": "executing once"}, {"wait_file": str(gate)}, {"log": "finished"}))
    wait_for(lambda: "executing once" in run_log(api, app, run_id), timeout=120, what="the run to start")
    server.kill()  # SIGKILL: the run goes on, on its node
    gate.touch()
    time.sleep(1)
    server.start()
    meta = wait_status(api, app, run_id, timeout=60)
    assert meta["status_v2"] == "succeeded", run_log(api, app, run_id) + "\n--- server log:\n" + server.log_tail(80)
    log = run_log(api, app, run_id)
    assert log.count("executing once") == 1 and "finished" in log

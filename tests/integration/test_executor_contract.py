"""The executor contract suite: every backend, driven through the contract alone.

A backend is handed ``RunTask``s whose bundle and input are blobs, and hands back ``RunReport``s whose
output, log and assets are blobs: these tests put blobs in, submit, and read blobs out, with no
database, services or server anywhere. The stub executes nothing (its output is its input), so it
takes part in what needs no process; the embedded backend (real sandboxed processes) and the Ray
backend (the same, on the worker nodes of a real loopback cluster) in everything.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runyard.execution.backends import Executor, create_executor
from runyard.execution.contract import Limits, RunReport, RunTask
from runyard.settings import Settings
from runyard.storage.blobs import BlobStore, open_blob_store
from runyard.wiring import open_sandbox

from .runtime.conftest import tar_gz

BACKENDS = ["stub", "embedded", "ray"]
PROCESSES = {"embedded", "ray"}  # backends that run the app's processes

JSON_APP = r'''
import json, os, sys, time
doc = json.load(sys.stdin)
for line in doc.get("log", []):
    print(line, file=sys.stderr, flush=True)
if doc.get("wait"):
    end = time.monotonic() + doc["wait"]
    while time.monotonic() < end and not os.path.exists(doc.get("gate", "/nonexistent")):
        time.sleep(0.02)
if doc.get("fail"):
    print("boom: " + os.environ.get("TOKEN", "none"), file=sys.stderr)
    sys.exit(3)
options = {a[1:]: b for a, b in zip(sys.argv[1::2], sys.argv[2::2])}
left_behind = os.path.exists("left-behind.txt")
if doc.get("write"):
    open(doc["write"], "w").write("x")
out = {"solution": {"echo": doc, "options": options, "token": os.environ.get("TOKEN"), "left_behind": left_behind,
                    "licence": open("licence.key").read() if os.path.exists("licence.key") else None,
                    "pad": "p" * doc.get("pad", 0)},
       "statistics": {"result": {"value": 42}},
       "assets": [{"name": "map", "content_type": "json", "content": {"points": [1, 2]}}]}
print(json.dumps(out))
'''
MULTI_FILE_APP = r'''
import json, os
names = sorted(os.listdir("inputs"))
os.makedirs("outputs/solutions", exist_ok=True)
json.dump({"inputs": names}, open("outputs/solutions/listing.json", "w"))
json.dump({"result": {"files": len(names)}}, open("outputs/statistics.json", "w"))
'''
CSV_APP = r'''
import os, sys
print("\n".join(sorted(os.listdir("input"))))
'''
TEXT_APP = r'''
import sys
print(sys.stdin.read().upper(), end="")
'''


@dataclass
class Harness:
    """One backend with a blob store and the reports it gave back."""

    name: str
    executor: Executor
    blobs: BlobStore
    reports: dict[str, RunReport] = field(default_factory=dict)
    done: threading.Condition = field(default_factory=threading.Condition)
    counter: int = 0
    woken: threading.Event = field(default_factory=threading.Event)  # the backend asked for the next run
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    queued: list[RunTask] = field(default_factory=list)  # handed over when the backend asks for the next run

    def next_run(self) -> None:
        """As the dispatcher does when a backend asks for the next run: from the backend's own thread."""
        self.woken.set()
        if self.queued:
            self.executor.submit(self.queued.pop(0))

    def on_done(self, run_id: str, report: RunReport) -> None:
        with self.done:
            self.reports[run_id] = report
            self.done.notify_all()

    def task(self, app: str, input_bytes: bytes | None, *, manifest: dict[str, Any] | None = None,
             input_format: str = "json", bundle: str | None = None, **kw: Any) -> RunTask:
        """``bundle``: a name that runs of one executable share (by default each run has its own)."""
        self.counter += 1
        # Unique across tests: a cluster's nodes outlive a test, and cache executables by id.
        run_id = f"run-{self.name}-{self.prefix}-{self.counter}"
        bundle_id = f"b-{self.prefix}-{bundle}" if bundle else f"b-{run_id}"
        bundle_key = f"bundles/{bundle_id}.tar.gz"
        self.blobs.put_bytes(bundle_key, tar_gz({"main.py": app.encode()}))
        input_key = None
        if input_bytes is not None:
            input_key = f"runs/{run_id}/input"
            self.blobs.put_bytes(input_key, input_bytes)
        fields: dict[str, Any] = dict(
            run_id=run_id, app_id="app", bundle_id=bundle_id, bundle_key=bundle_key,
            manifest=manifest or {"type": "python", "files": ["main.py"]}, input_key=input_key,
            output_key=f"runs/{run_id}/output", log_key=f"runs/{run_id}/log", assets_key=f"runs/{run_id}/assets.json",
            assets_prefix=f"runs/{run_id}/assets/", input_format=input_format, execution_class="c1",
            max_duration_seconds=120, limits=Limits(memory_mb=1024, max_processes=128, open_files=1024),
        )
        fields.update(kw)
        return RunTask(**fields)

    def run(self, task: RunTask, timeout: float = 120) -> RunReport:
        self.executor.submit(task)
        return self.wait(task.run_id, timeout)

    def wait(self, run_id: str, timeout: float = 120) -> RunReport:
        end = time.monotonic() + timeout
        with self.done:
            while run_id not in self.reports:
                left = end - time.monotonic()
                assert left > 0, f"no report for {run_id}"
                self.done.wait(left)
            return self.reports[run_id]

    def log(self, report: RunReport) -> list[str]:
        if not report.log_key or not self.blobs.exists(report.log_key):
            return []
        return [json.loads(line)["l"] for line in self.blobs.get_bytes(report.log_key).splitlines()]

    def output(self, report: RunReport) -> bytes:
        assert report.output_key is not None, report
        return self.blobs.get_bytes(report.output_key)

    def needs_processes(self) -> None:
        if self.name not in PROCESSES:
            pytest.skip(f"the {self.name} backend runs no processes")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, app_env_dir: Path) -> Iterator[Harness]:
    executor = request.param
    extra: dict[str, Any] = {}
    if executor == "ray":
        executor = request.getfixturevalue("ray_cluster").address
        # A supervisor of its own per test: nothing of one test's runs reaches the next.
        extra = {"ray_namespace": f"contract-{request.node.name.split('[')[0][-40:]}", "ray_cancel_grace_seconds": 5}
    blob_url = f"file://{tmp_path / 'blobs'}"
    settings = Settings(data_dir=tmp_path / "worker", executor=executor, blob_url=blob_url,
                        execution={"env_dir": app_env_dir, "poll_interval_seconds": 0.05, "kill_grace_seconds": 0.3,
                                   "default_class": "c1", **extra,
                                   "classes": {"c1": {"concurrency": 2, "max_duration_seconds": 120, "memory_mb": 1024}}})
    blobs = open_blob_store(blob_url)
    harness = Harness(request.param, None, blobs)  # type: ignore[arg-type]
    harness.executor = create_executor(executor, settings=settings, blobs=blobs, on_done=harness.on_done,
                                       sandbox=open_sandbox(settings), next_run=harness.next_run,
                                       wakeup=harness.woken.set)
    harness.executor.start()
    yield harness
    harness.executor.shutdown(cancel_running=True)


@pytest.fixture(scope="session")
def app_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-envs")


def test_a_json_run_comes_back_with_its_output_under_the_tasks_key(backend: Harness) -> None:
    task = backend.task(JSON_APP, b'{"items": [1, 2]}')
    report = backend.run(task)
    assert report.exit_code == 0 and report.error == "", report.error
    assert report.output_key == f"runs/{task.run_id}/output"
    output = json.loads(backend.output(report))
    if backend.name in PROCESSES:
        assert output["solution"]["echo"] == {"items": [1, 2]}
        assert report.statistics == {"result": {"value": 42}}
    else:
        assert output == {"items": [1, 2]}
    assert report.output_size == len(backend.output(report))
    assert not backend.executor.running()


def test_an_ended_run_frees_its_slot_and_asks_for_the_next_run_at_once(backend: Harness) -> None:
    """A full class's next run starts when a slot frees, not at the dispatcher's next periodic look (once a
    second): with one slot per node that look capped the cluster at one run per slot a second."""
    task = backend.task(JSON_APP, b'{"items": [1]}')
    free = backend.executor.free_capacity("c1")
    backend.woken.clear()
    report = backend.run(task)
    assert report.exit_code == 0 and report.error == "", report.error
    assert backend.woken.wait(10), "the backend never told the dispatcher that a slot is free"
    assert backend.executor.free_capacity("c1") == free


def test_options_statistics_assets_and_logs(backend: Harness) -> None:
    backend.needs_processes()
    task = backend.task(JSON_APP, json.dumps({"log": ["first", "second"]}).encode(), options={"duration": "5", "solver": "highs"})
    report = backend.run(task)
    assert report.exit_code == 0, backend.log(report)
    solution = json.loads(backend.output(report))["solution"]
    assert solution["options"] == {"duration": "5", "solver": "highs"}
    assert report.statistics == {"result": {"value": 42}}
    assert report.assets_key == task.assets_key
    index = json.loads(backend.blobs.get_bytes(task.assets_key))
    assert [a["name"] for a in index] == ["map"]
    assert json.loads(backend.blobs.get_bytes(task.assets_prefix + index[0]["id"])) == {"points": [1, 2]}
    log = backend.log(report)
    assert log.index("first") < log.index("second")


def test_text_multi_file_and_csv_archive_runs(backend: Harness) -> None:
    backend.needs_processes()
    text = backend.run(backend.task(TEXT_APP, b"hello", input_format="text",
                                    manifest={"type": "python", "files": ["main.py"], "configuration": {"content": {"format": "text"}}}))
    assert json.loads(backend.output(text)) == "HELLO"  # text output is stored as a JSON string
    archive = tar_gz({"a.json": b"{}", "b.json": b"{}"})
    multi = backend.run(backend.task(MULTI_FILE_APP, archive, input_format="multi-file",
                                     manifest={"type": "python", "files": ["main.py"],
                                               "configuration": {"content": {"format": "multi-file"}}}))
    assert multi.exit_code == 0, backend.log(multi)
    with tarfile.open(fileobj=io.BytesIO(backend.output(multi)), mode="r:gz") as tar:
        listing = json.loads(tar.extractfile("listing.json").read())  # type: ignore[union-attr]
    assert listing == {"inputs": ["a.json", "b.json"]}
    assert multi.statistics == {"result": {"files": 2}}
    csv = backend.run(backend.task(CSV_APP, tar_gz({"x.csv": b"a\n1\n", "y.csv": b"b\n2\n"}), input_format="csv-archive",
                                   manifest={"type": "python", "files": ["main.py"], "configuration": {"content": {"format": "text"}}}))
    assert json.loads(backend.output(csv)).split() == ["x.csv", "y.csv"]


def test_live_logs_reach_the_log_blob_while_the_run_goes(backend: Harness, tmp_path: Path) -> None:
    backend.needs_processes()
    task = backend.task(JSON_APP, json.dumps({"log": ["early line"], "wait": 60, "gate": "/tmp/never"}).encode())
    backend.executor.submit(task)
    deadline = time.monotonic() + 120
    while not (backend.blobs.exists(task.log_key) and b"early line" in backend.blobs.get_bytes(task.log_key)):
        assert time.monotonic() < deadline, "the line never reached the log while the run was going"
        assert task.run_id not in backend.reports
        time.sleep(0.05)
    assert task.run_id in backend.executor.running()
    backend.executor.cancel(task.run_id)
    assert backend.wait(task.run_id).canceled


def test_cancel_a_running_run_and_a_queued_one(backend: Harness) -> None:
    backend.needs_processes()
    slow = [backend.task(JSON_APP, json.dumps({"wait": 60, "log": ["waiting"]}).encode()) for _ in range(2)]
    for task in slow:
        backend.executor.submit(task)
    assert backend.executor.free_capacity("c1") == 0
    started = time.monotonic()
    for task in slow:
        backend.executor.cancel(task.run_id)
    reports = [backend.wait(task.run_id) for task in slow]
    assert all(r.canceled for r in reports) and time.monotonic() - started < 5
    assert backend.executor.free_capacity("c1") == 2


def test_the_deadline_ends_a_run(backend: Harness) -> None:
    backend.needs_processes()
    report = backend.run(backend.task(JSON_APP, json.dumps({"wait": 60}).encode(), max_duration_seconds=1.0))
    assert report.deadline_hit and not report.canceled


def test_a_failing_app_reports_its_exit_code_and_stderr(backend: Harness) -> None:
    backend.needs_processes()
    report = backend.run(backend.task(JSON_APP, json.dumps({"fail": True}).encode()))
    assert report.exit_code == 3
    assert "boom" in report.stderr_tail


def test_secrets_reach_the_app_and_never_its_log(backend: Harness) -> None:
    backend.needs_processes()
    secret = "tok-" + "9" * 20
    ok = backend.run(backend.task(JSON_APP, b"{}", env={"TOKEN": secret}, files={"licence.key": "LICENCE-TEXT-1234"}))
    solution = json.loads(backend.output(ok))["solution"]
    assert solution["token"] == secret and solution["licence"] == "LICENCE-TEXT-1234"
    failed = backend.run(backend.task(JSON_APP, json.dumps({"fail": True}).encode(), env={"TOKEN": secret}))
    assert secret not in failed.stderr_tail and "boom: ***" in failed.stderr_tail
    assert all(secret not in line for line in backend.log(failed))


def test_a_large_output(backend: Harness) -> None:
    backend.needs_processes()
    report = backend.run(backend.task(JSON_APP, json.dumps({"pad": 20 * 1024 * 1024}).encode()))
    assert report.exit_code == 0
    assert report.output_size > 20 * 1024 * 1024
    assert len(json.loads(backend.output(report))["solution"]["pad"]) == 20 * 1024 * 1024


def test_runs_of_one_executable_one_after_another(backend: Harness) -> None:
    """Runs of one executable reuse its kept workspace, and the sandbox started ahead in it: each run
    still gets its own input, options, secrets and log, a cancel, a deadline and a failure still act,
    and nothing of one run is seen by the next."""
    backend.needs_processes()
    secret = "tok-" + "7" * 20

    def run(doc: dict, **kw: Any) -> RunReport:
        return backend.run(backend.task(JSON_APP, json.dumps(doc).encode(), bundle="one", **kw))

    first = run({"log": ["first run"], "write": "left-behind.txt"}, options={"solver": "a"})
    assert first.exit_code == 0, backend.log(first)
    for round_ in range(2):  # (the second round is sure to find a sandbox waiting, wherever the first ran)
        ok = run({"log": [f"round {round_}"]}, options={"solver": f"b{round_}"}, env={"TOKEN": secret},
                 files={"licence.key": f"LICENCE-{round_}"})
        assert ok.exit_code == 0 and ok.error == "", backend.log(ok)
        solution = json.loads(backend.output(ok))["solution"]
        assert solution["options"] == {"solver": f"b{round_}"} and solution["token"] == secret
        assert solution["licence"] == f"LICENCE-{round_}" and not solution["left_behind"]
        assert f"round {round_}" in backend.log(ok) and "first run" not in backend.log(ok)
        assert run({"wait": 60}, max_duration_seconds=1.0).deadline_hit
        failed = run({"fail": True}, env={"TOKEN": secret})
        assert failed.exit_code == 3 and "boom: ***" in failed.stderr_tail
        task = backend.task(JSON_APP, json.dumps({"wait": 60, "log": ["waiting"]}).encode(), bundle="one")
        backend.executor.submit(task)
        deadline = time.monotonic() + 120
        while not (backend.blobs.exists(task.log_key) and b"waiting" in backend.blobs.get_bytes(task.log_key)):
            assert time.monotonic() < deadline, "the line never reached the log while the run was going"
            time.sleep(0.05)
        backend.executor.cancel(task.run_id)
        assert backend.wait(task.run_id).canceled


def test_a_worker_shut_down_mid_run_reports_it_interrupted_and_leaves_nothing(backend: Harness) -> None:
    """The lost-worker case as a backend sees it: it is stopped while a run goes. The run comes back
    interrupted (the platform then fails or requeues it), and none of its processes is left."""
    backend.needs_processes()
    task = backend.task(JSON_APP, json.dumps({"wait": 60, "log": ["going"]}).encode())
    backend.executor.submit(task)
    deadline = time.monotonic() + 120
    while not (backend.blobs.exists(task.log_key) and b"going" in backend.blobs.get_bytes(task.log_key)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    backend.executor.shutdown(cancel_running=True)
    report = backend.wait(task.run_id, timeout=10)
    assert report.canceled
    assert not backend.executor.running()


def test_runs_handed_over_from_the_backends_own_thread_execute(backend: Harness) -> None:
    """The dispatcher starts the next queued run from the thread that asks for it (the one that
    reported the last run: on Ray, its next call to the cluster then carries it): a chain of runs, each
    handed over when the one before reported, all execute and report."""
    backend.needs_processes()
    tasks = [backend.task(JSON_APP, json.dumps({"n": n}).encode(), bundle="chain") for n in range(4)]
    backend.queued.extend(tasks[1:])
    backend.executor.submit(tasks[0])
    for n, task in enumerate(tasks):
        report = backend.wait(task.run_id)
        assert report.exit_code == 0 and report.error == "", backend.log(report)
        assert json.loads(backend.output(report))["solution"]["echo"] == {"n": n}
    assert backend.queued == []


@contextlib.contextmanager
def _attached_to(supervisor_class: type, request: pytest.FixtureRequest, tmp_path: Path,
                 app_env_dir: Path) -> Iterator[tuple[Harness, Any]]:
    """A Ray executor attached to a supervisor of ``supervisor_class``, made beforehand under the
    installation's name (as a server before this one would have): the harness and that actor."""
    import ray

    from runyard.execution.backends import ray as ray_backend

    cluster = request.getfixturevalue("ray_cluster")
    namespace = f"contract-{supervisor_class.__name__.lower()}-{uuid.uuid4().hex[:8]}"
    if not ray.is_initialized():
        ray_backend.join_cluster(ray, cluster.address, namespace)
    actor = (ray.remote(supervisor_class)
             .options(name=f"runyard-supervisor-{namespace}", namespace=namespace, lifetime="detached", num_cpus=0,
                      max_concurrency=100, resources={"node:__internal_head__": 0.001})
             .remote())
    settings = Settings(data_dir=tmp_path / "worker", executor=cluster.address, blob_url=f"file://{tmp_path / 'blobs'}",
                        execution={"env_dir": app_env_dir, "default_class": "c1", "ray_namespace": namespace,
                                   "ray_cancel_grace_seconds": 5,
                                   "classes": {"c1": {"concurrency": 2, "max_duration_seconds": 120}}})
    blobs = open_blob_store(settings.blob_url)
    harness = Harness("ray", None, blobs)  # type: ignore[arg-type]
    harness.executor = create_executor(cluster.address, settings=settings, blobs=blobs, on_done=harness.on_done,
                                       sandbox=open_sandbox(settings), next_run=harness.next_run, wakeup=harness.woken.set)
    harness.executor.start()
    try:
        yield harness, actor
    finally:
        harness.executor.shutdown(cancel_running=True)
        with contextlib.suppress(Exception):
            ray.kill(actor)


def test_a_supervisor_left_by_an_older_server_is_used_as_it_is(request: pytest.FixtureRequest, tmp_path: Path,
                                                                 app_env_dir: Path) -> None:
    """A detached supervisor outlives the server that made it: a newer server attaching to one of an
    older protocol (no ``exchange``: reports fetched and acknowledged by separate calls) still gets its
    runs executed and their reports, and acknowledges them."""
    import ray

    from runyard.execution.backends import ray as ray_backend

    class OlderSupervisor(ray_backend.Supervisor):  # (made here: shipped to the cluster by value)
        exchange = None  # type: ignore[assignment]  # (protocol 1 had no such call)

        def configure(self, config: Any) -> None:  # type: ignore[override]
            self._config = config  # (and answered nothing)

    with _attached_to(OlderSupervisor, request, tmp_path, app_env_dir) as (harness, older):
        first, second = (harness.task(JSON_APP, json.dumps({"n": n}).encode(), bundle="older") for n in range(2))
        harness.queued.append(second)
        harness.executor.submit(first)
        for task in (first, second):
            report = harness.wait(task.run_id)
            assert report.exit_code == 0, harness.log(report)
        deadline = time.monotonic() + 10
        while ray.get(older.in_flight.remote()):  # acknowledged: the older supervisor forgets them
            assert time.monotonic() < deadline, ray.get(older.in_flight.remote())
            time.sleep(0.1)


def test_a_cancel_that_overtakes_its_run_on_the_way_to_the_cluster_still_cancels_it(
        request: pytest.FixtureRequest, tmp_path: Path, app_env_dir: Path) -> None:
    """Ray keeps no order between one caller's calls to an async actor: a cancel sent right after its
    run can reach the supervisor first. The run must still end canceled, without executing (and
    promptly: not after running its course)."""
    import asyncio

    from runyard.execution.backends import ray as ray_backend

    class SlowToTakeRuns(ray_backend.Supervisor):  # every submission is overtaken by what follows it
        async def submit(self, task: Any, options: dict[str, Any]) -> None:
            await asyncio.sleep(1.0)
            await super().submit(task, options)

    with _attached_to(SlowToTakeRuns, request, tmp_path, app_env_dir) as (harness, _):
        task = harness.task(JSON_APP, json.dumps({"wait": 60, "log": ["started"]}).encode(), bundle="overtaken")
        started = time.monotonic()
        harness.executor.submit(task)
        harness.executor.cancel(task.run_id)
        report = harness.wait(task.run_id, timeout=90)
        assert report.canceled, (report, harness.log(report))
        assert time.monotonic() - started < 10 and "started" not in harness.log(report)
        assert harness.executor.free_capacity("c1") == 2

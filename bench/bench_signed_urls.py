"""Benchmark: a large payload through Runyard's signed URLs, against a plain file copy on the same disk.

Starts a real ``runyard serve`` on a loopback port with a temporary data dir, then

0. warms up with a 256 KiB round trip (untimed: the first request of a route pays its setup);
1. gets an upload URL (``POST …/runs/uploadurl``) and PUTs a generated file, streamed from disk
   (http.client in 1 MiB blocks);
2. records a tracked run whose input is that upload (nothing executes) and asks for the input's
   signed download URL (``GET …/runs/{id}/input?format=url``);
3. deletes the source file (see ``measure``) and GETs the upload back with http.client, read into a
   1 MiB buffer and written to a file from it.

sha256 is checked both ways (the stored blob and the downloaded copy against the source), after the
clock stops. While each transfer runs, a thread samples the server's VmRSS every 50 ms; growth =
peak − RSS just before. The CPU time of the server and of the client thread are recorded too.
The baseline is ``shutil.copyfile`` of the same file in the same directory, in the same run.

    python bench/bench_signed_urls.py            # 1 GiB
    python bench/bench_signed_urls.py --quick    # 64 MiB

Prints a table and writes ``bench/out/signed_urls.json``. Exits non-zero if setup fails, and with
``--strict`` also when a target is missed (RSS growth < 100 MiB, throughput >= 0.5x the copy).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

MIB = 1024 * 1024
BLOCK = MIB
RSS_SAMPLE_SECONDS = 0.05
RSS_TARGET_MIB = 100.0
THROUGHPUT_TARGET_RATIO = 0.5
API_KEY = "bench-" + os.urandom(8).hex()
HERE = Path(__file__).resolve().parent


class SetupError(RuntimeError):
    """The benchmark could not be set up; nothing was measured."""


@dataclass
class Transfer:
    seconds: float
    mib_per_s: float
    ratio_to_copy: float | None = None
    rss_before_mib: float | None = None
    rss_peak_mib: float | None = None
    rss_growth_mib: float | None = None
    sha256_ok: bool | None = None
    server_cpu_seconds: float | None = None  # user + system CPU the server spent: steadier than wall time on a busy machine
    client_cpu_seconds: float | None = None  # the same for the client thread that moved the bytes


# --- helpers -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_payload(path: Path, size: int) -> str:
    """``size`` incompressible bytes written block by block; returns their sha256."""
    digest = hashlib.sha256()
    block = bytearray(os.urandom(BLOCK))
    with open(path, "wb") as out:
        for i in range(0, size, BLOCK):
            block[:8] = i.to_bytes(8, "little")  # every block differs
            chunk = bytes(block[: min(BLOCK, size - i)])
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def put_file(url: str, path: Path, size: int) -> tuple[int, bytes]:
    """PUT ``path`` streamed from disk in 1 MiB blocks, as the SDK does: no key, no Content-Type.

    http.client rather than requests: requests sends a file in 8 KiB blocks and tops out near
    500 MiB/s here, which would measure the client instead of the server.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600, blocksize=BLOCK)
    try:
        with open(path, "rb") as f:
            conn.request("PUT", f"{parts.path}?{parts.query}", body=f, headers={"Content-Length": str(size)})
            response = conn.getresponse()
            return response.status, response.read()
    finally:
        conn.close()


def get_file(url: str, dest: Path) -> int:
    """GET ``url`` into ``dest``, read from the socket straight into one 1 MiB buffer and written from it.

    http.client rather than requests: ``iter_content`` costs the client ~2 s of CPU per GiB here, more
    than the server, so it would measure the client instead of the server.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        if response.status != 200:
            raise SetupError(f"GET {response.status}: {response.read()[:500]!r}")
        buffer = memoryview(bytearray(BLOCK))
        size = 0
        with open(dest, "wb") as out:
            while n := response.readinto(buffer):
                out.write(buffer[:n])
                size += n
        return size
    finally:
        conn.close()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SetupError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def rss_peak(pid: int) -> Iterator[dict[str, float]]:
    """Samples ``pid``'s RSS every 50 ms while the block runs; fills ``before`` and ``peak`` (MiB), and
    the CPU time the process used meanwhile (``cpu``, seconds)."""
    cpu_before = cpu_seconds(pid)
    stats = {"before": rss_mib(pid)}
    stats["peak"] = stats["before"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                stats["peak"] = max(stats["peak"], rss_mib(pid))
            except (OSError, SetupError):
                return
            stop.wait(RSS_SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join()
        stats["peak"] = max(stats["peak"], rss_mib(pid))
        stats["cpu"] = cpu_seconds(pid) - cpu_before


def thread_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


# --- the server ----------------------------------------------------------------------------------

class Server:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}  # e.g. an S3 blob store (bench/p4_s3.py)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {API_KEY}"

    def start(self, timeout: float = 60) -> None:
        runyard = shutil.which("runyard", path=str(Path(sys.executable).parent)) or shutil.which("runyard")
        if runyard is None:
            raise SetupError("the runyard command is not installed in this environment")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_"))}
        env.update(RUNYARD_API_KEY=API_KEY, RUNYARD_EXECUTOR="stub", **self.extra_env)
        argv = [runyard, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.base / "data"), "--log-level", "warning"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(f"runyard serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise SetupError(f"runyard serve did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def call(self, method: str, path: str, **kw: Any) -> Any:
        response = self.session.request(method, self.url + path, timeout=60, **kw)
        if response.status_code != 200:
            raise SetupError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the measurement -----------------------------------------------------------------------------

def upload(server: Server, source: Path, size: int, expected: str) -> tuple[str, Transfer]:
    """PUT ``source`` to a fresh upload URL; returns the upload id and the measurement."""
    slot = server.call("POST", "/v1/applications/bench/runs/uploadurl")
    with rss_peak(server.pid) as rss:
        cpu = thread_cpu_seconds()
        seconds, (status, body) = timed(lambda: put_file(slot["upload_url"], source, size))
        rss["client_cpu"] = thread_cpu_seconds() - cpu
    if status != 200 or json.loads(body).get("size") != size:
        raise SetupError(f"PUT {status}: {body[:500]!r}")
    stored = server.base / "data" / "blobs" / "uploads" / slot["upload_id"]
    return slot["upload_id"], transfer(size, seconds, rss, stored.is_file() and sha256_of(stored) == expected)


def download(server: Server, upload_id: str, dest: Path, size: int, expected: str) -> Transfer:
    """GET the upload back through a signed URL: the input of a tracked run made from it (nothing executes)."""
    run = server.call("POST", "/v1/applications/bench/runs", json={"upload_id": upload_id, "result": {"status": "succeeded"}})
    url = server.call("GET", f"/v1/applications/bench/runs/{run['run_id']}/input", params={"format": "url"})["url"]

    def get() -> None:
        get_file(url, dest)

    with rss_peak(server.pid) as rss:
        cpu = thread_cpu_seconds()
        seconds, _ = timed(get)
        rss["client_cpu"] = thread_cpu_seconds() - cpu
    # Checked after the clock stops: hashing 1 GiB would time the client's CPU, not the transfer.
    return transfer(size, seconds, rss, dest.stat().st_size == size and sha256_of(dest) == expected)


def warm_up(server: Server, work: Path) -> None:
    """One small round trip through signed URLs, untimed: the server sets up each route on its first
    request (~40 ms here), a one-time cost that would otherwise weigh on the quick mode's figures."""
    small = work / "warmup.bin"
    digest = write_payload(small, 256 * 1024)
    upload_id, _ = upload(server, small, 256 * 1024, digest)
    download(server, upload_id, work / "warmup.download", 256 * 1024, digest)
    small.unlink()
    (work / "warmup.download").unlink()


def transfer(size: int, seconds: float, rss: dict[str, float], ok: bool) -> Transfer:
    return Transfer(seconds=round(seconds, 3), mib_per_s=round(size / MIB / seconds, 1),
                    rss_before_mib=round(rss["before"], 1), rss_peak_mib=round(rss["peak"], 1),
                    rss_growth_mib=round(rss["peak"] - rss["before"], 1), sha256_ok=ok,
                    server_cpu_seconds=round(rss["cpu"], 2), client_cpu_seconds=round(rss["client_cpu"], 2))


def measure(size: int, work: Path) -> dict[str, Any]:
    source = work / "payload.bin"
    print(f"writing {size // MIB} MiB payload to {work} ...", flush=True)
    expected = write_payload(source, size)
    copy_seconds, _ = timed(lambda: shutil.copyfile(source, work / "payload.copy"))
    (work / "payload.copy").unlink()
    copy = Transfer(seconds=round(copy_seconds, 3), mib_per_s=round(size / MIB / copy_seconds, 1))
    server = Server(work)
    try:
        server.start()
        server.call("POST", "/v1/applications", json={"id": "bench", "name": "bench"})
        warm_up(server, work)
        upload_id, up = upload(server, source, size, expected)
        # The source is done with (its sha256 is known, the stored blob matched it). Dropping it keeps
        # the download to two payload-sized files in the page cache, as the copy and the upload have:
        # on this VM every page cache page beyond that costs a fresh page, ~1-2 s of CPU per GiB, which
        # more than halved the download's figure.
        source.unlink()
        down = download(server, upload_id, work / "payload.download", size, expected)
    except requests.RequestException as exc:
        raise SetupError(f"HTTP failed: {exc}\n{server.log_tail()}") from None
    finally:
        server.stop()
    for t in (up, down):
        t.ratio_to_copy = round(t.mib_per_s / copy.mib_per_s, 3)
    met = all(t.sha256_ok and (t.rss_growth_mib or 0) < RSS_TARGET_MIB and (t.ratio_to_copy or 0) >= THROUGHPUT_TARGET_RATIO
              for t in (up, down))
    return {
        "size_mib": size // MIB,
        "sha256": expected,
        "copy": asdict(copy),
        "upload": asdict(up),
        "download": asdict(down),
        "targets": {"rss_growth_below_mib": RSS_TARGET_MIB, "throughput_ratio_at_least": THROUGHPUT_TARGET_RATIO, "met": met},
        "server_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_table(results: dict[str, Any]) -> None:
    print(f"\nsigned URLs, {results['size_mib']} MiB payload (server HTTP: {results['server_http']}; "
          f"{results['cpus']} CPUs, load average {results['load_average'][0]:.1f} at the end)")
    print(f"{'':10} {'seconds':>9} {'MiB/s':>9} {'x copy':>7} {'RSS before':>11} {'RSS peak':>9} {'growth':>8} "
          f"{'srv CPU s':>9} {'cli CPU s':>9} {'sha256':>7}")
    for name in ("copy", "upload", "download"):
        t = results[name]

        def cell(key: str, fmt: str, t: dict[str, Any] = t) -> str:
            return "-" if t[key] is None else format(t[key], fmt)

        sha = "-" if t["sha256_ok"] is None else ("ok" if t["sha256_ok"] else "BAD")
        print(f"{name:10} {t['seconds']:>9.2f} {t['mib_per_s']:>9.1f} {cell('ratio_to_copy', '.2f'):>7} "
              f"{cell('rss_before_mib', '.1f'):>11} {cell('rss_peak_mib', '.1f'):>9} {cell('rss_growth_mib', '.1f'):>8} "
              f"{cell('server_cpu_seconds', '.2f'):>9} {cell('client_cpu_seconds', '.2f'):>9} {sha:>7}")
    met = results["targets"]["met"]
    print(f"targets (RSS growth < {RSS_TARGET_MIB:.0f} MiB, >= {THROUGHPUT_TARGET_RATIO}x copy, sha256 ok): "
          f"{'met' if met else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="Payload size in MiB (default 1024).")
    parser.add_argument("--quick", action="store_true", help="A 64 MiB payload (overrides --size-mib).")
    parser.add_argument("--dir", type=Path, default=None, help="Where to put the payload and the server's data (default: a temp dir).")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "signed_urls.json", help="Where to write the JSON results.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a target is missed.")
    args = parser.parse_args(argv)
    size = (64 if args.quick else args.size_mib) * MIB
    if size <= 0:
        parser.error("--size-mib must be positive")
    work = Path(tempfile.mkdtemp(prefix="runyard-bench-", dir=args.dir))
    try:
        results = measure(size, work)
    except SetupError as exc:
        print(f"benchmark setup failed: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if args.strict and not results["targets"]["met"] else 0


if __name__ == "__main__":
    sys.exit(main())

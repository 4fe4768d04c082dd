"""A trivial round-robin HTTP proxy on loopback: each request goes to the next upstream in turn, with the
client's ``Host`` header kept (so URLs a server hands out point at the proxy). Bodies are read whole;
enough for the SDK's calls and uploads in a test, not a production balancer."""

from __future__ import annotations

import http.client
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .harness import Server, start_server

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class AlternatingProxy:
    def __init__(self, upstreams: list[str]) -> None:
        targets = itertools.cycle([urlsplit(u).netloc for u in upstreams])
        lock = threading.Lock()
        self.sent: Counter[str] = Counter()
        sent = self.sent

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                with lock:
                    target = next(targets)
                    sent[target] += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(target, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    for key, value in response.getheaders():
                        if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Pair:
    """Two ``runyard serve`` replicas on one database behind an ``AlternatingProxy``."""

    replicas: list[Server]
    proxy: AlternatingProxy
    front: Server  # the proxy's URL, with the replicas' key (and the first replica's log for failures)

    def stop(self) -> None:
        self.proxy.close()
        for server in self.replicas:
            server.stop()


@contextmanager
def replica_pair(*, database_url: str, base: Path, env_dir: Path, settings: dict[str, str], name: str) -> Iterator[Pair]:
    """Start two replicas with ``settings`` (a failure to start fails the test, naming why), yield them."""
    key = "ry-compat-" + uuid.uuid4().hex
    replicas: list[Server] = []
    try:
        for replica in ("a", "b"):
            replicas.append(start_server(backend="postgresql", base_dir=base / replica, env_dir=env_dir,
                                         database_url=database_url, key=key, env=settings))
    except RuntimeError as exc:
        for server in replicas:
            server.stop()
        pytest.fail(str(exc), pytrace=False)
    proxy = AlternatingProxy([s.url for s in replicas])
    pair = Pair(replicas, proxy, replace(replicas[0], backend=name, url=proxy.url))
    try:
        yield pair
    finally:
        pair.stop()

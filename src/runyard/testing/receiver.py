"""A webhook receiver on a loopback port for tests and benchmarks: records every request it gets and
answers as scripted (a status, a ``Retry-After``, a delay), and can go away and come back."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from runyard.testing.postgres import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived
    answered: int


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[Received] = []
        self.script: list[Answer] = []  # answers used in order, then ``default``
        self.default = Answer()
        self.on_request: Callable[[Received], None] | None = None
        self.in_flight = 0  # requests being answered now, and the most there ever were at once
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _answer(self) -> Answer:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as production servers do: headers and body go out at once

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = receiver._answer()
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                if answer.delay:
                    time.sleep(answer.delay)
                with receiver._lock:
                    receiver.in_flight -= 1
                got = Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body, at=time.time(),
                               answered=answer.status)
                with receiver._lock:
                    receiver.received.append(got)
                if receiver.on_request is not None:
                    receiver.on_request(got)
                payload = b"ok" if answer.status < 300 else b"not now"
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a sender that gave up (its timeout, its shutdown) is part of what is tested

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: connections are refused until ``up()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"the receiver got {len(self.received)} requests, not {count}, within {timeout} s")


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.up()
    try:
        yield receiver
    finally:
        receiver.down()

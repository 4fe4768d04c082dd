"""A recording HTTP server (stdlib, in a thread on 127.0.0.1) answering canned JSON.

The canned answers parse in both the official ``nextmv`` 0.28.5 SDK and ``runyard.cloud``, so the
same calls can be made with each and the recorded requests compared. Scripted failures
(``fail_next``) let retry behaviour be observed too.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TS = "2024-01-01T00:00:00Z"
STEP_PREFIX = "/__step__/"


@dataclass
class Recorded:
    """One request as received."""

    step: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def instance(id: str = "i1") -> dict[str, Any]:
    return {"id": id, "application_id": "wire-app", "version_id": "v1", "name": "inst", "description": "",
            "configuration": {}, "locked": False, "created_at": TS, "updated_at": TS}


def version(id: str = "v1") -> dict[str, Any]:
    return {"id": id, "application_id": "wire-app", "name": "v", "description": "", "created_at": TS, "updated_at": TS,
            "executable": {"id": "exe-1", "user_email": "a@b.c", "uploaded_at": TS,
                           "requirements": {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}}}


def run_info(status: str = "succeeded") -> dict[str, Any]:
    v1 = status if status in ("failed", "running", "succeeded") else "running"
    return {"id": "run-1", "name": "n", "description": "d", "user_email": "a@b.c",
            "metadata": {"application_id": "wire-app", "application_instance_id": "i1", "application_version_id": "v1",
                         "created_at": TS, "duration": 5.0, "error": "", "input_size": 10, "output_size": 10,
                         "status": v1, "status_v2": status, "format": {"input": {"type": "json"}, "output": {"type": "json"}}}}


def secrets_summary(id: str = "sc1") -> dict[str, Any]:
    return {"id": id, "application_id": "wire-app", "name": "s", "description": "x", "created_at": TS, "updated_at": TS}


def batch(id: str = "b1") -> dict[str, Any]:
    return {"id": id, "name": "b", "created_at": TS, "updated_at": TS, "status": "completed", "input_set_id": "is1",
            "instance_ids": ["i1", "i2"]}


def acceptance(id: str = "acc1") -> dict[str, Any]:
    side = {"instance_id": "i1", "version_id": "v1"}
    return {"id": id, "name": "acc", "description": "dd", "app_id": "wire-app", "experiment_id": id, "control": side,
            "candidate": side, "metrics": [], "created_at": TS, "updated_at": TS, "status": "completed"}


def input_set(id: str = "is1") -> dict[str, Any]:
    return {"id": id, "app_id": "wire-app", "name": "is", "description": "", "input_ids": [], "inputs": [],
            "created_at": TS, "updated_at": TS}


Responder = Callable[["Recorder", Recorded], tuple[int, Any]]


def _body_id(default: str) -> Responder:
    return lambda rec, req: (200, {"id": (req.json() or {}).get("id", default)})


ROUTES: list[tuple[str, str, Responder]] = [
    ("GET", r"/v1/applications/missing", lambda rec, req: (404, {"error": "application missing not found"})),
    ("POST", r"/v1/applications", lambda rec, req: (200, {"id": (req.json() or {}).get("id", "wire-app")})),
    ("GET", r"/v1/applications/[^/]+", lambda rec, req: (200, {"id": "wire-app", "name": "w"})),
    ("DELETE", r"/v1/applications/[^/]+", lambda rec, req: (204, None)),
    ("POST", r"/v1/applications/[^/]+/versions", lambda rec, req: (200, version((req.json() or {}).get("id", "v1")))),
    ("GET", r"/v1/applications/[^/]+/versions/[^/]+", lambda rec, req: (200, version())),
    ("GET", r"/v1/applications/[^/]+/instances", lambda rec, req: (200, [instance()])),
    ("POST", r"/v1/applications/[^/]+/instances", lambda rec, req: (200, instance())),
    ("PUT", r"/v1/applications/[^/]+/instances/[^/]+", lambda rec, req: (200, instance())),
    ("GET", r"/v1/applications/[^/]+/instances/[^/]+", lambda rec, req: (200, instance())),
    ("POST", r"/v1/applications/[^/]+/runs/uploadurl",
     lambda rec, req: (200, {"upload_id": "upload-1", "upload_url": f"{rec.url}/upload/u1?sig=abc"})),
    ("PUT", r"/upload/u1", lambda rec, req: (200, None)),
    ("POST", r"/v1/applications/[^/]+/runs", lambda rec, req: (200, {"run_id": "run-1"})),
    ("GET", r"/v1/applications/[^/]+/runs/[^/]+/metadata", lambda rec, req: (200, run_info())),
    ("GET", r"/v1/applications/[^/]+/runs/[^/]+/input", lambda rec, req: (200, {"x": 1})),
    ("GET", r"/v1/applications/[^/]+/runs/[^/]+/logs", lambda rec, req: (200, {"log": "a\nb"})),
    ("PATCH", r"/v1/applications/[^/]+/runs/[^/]+/cancel", lambda rec, req: (200, {})),
    ("GET", r"/v1/applications/[^/]+/runs/[^/]+", lambda rec, req: (200, {**run_info(), "output": {"solution": {"x": 1}}})),
    ("POST", r"/v1/applications/[^/]+/experiments/batch", _body_id("b1")),
    ("GET", r"/v1/applications/[^/]+/experiments/batch/[^/]+", lambda rec, req: (200, batch())),
    ("POST", r"/v1/applications/[^/]+/experiments/acceptance", lambda rec, req: (200, acceptance())),
    ("POST", r"/v1/applications/[^/]+/experiments/inputsets", lambda rec, req: (200, input_set())),
    ("POST", r"/v1/applications/[^/]+/inputs", lambda rec, req: (200, {"id": "m1"})),
    ("GET", r"/v1/applications/[^/]+/secrets", lambda rec, req: (200, {"items": [secrets_summary()]})),
    ("POST", r"/v1/applications/[^/]+/secrets", lambda rec, req: (200, secrets_summary())),
    ("PUT", r"/v1/applications/[^/]+/secrets/[^/]+", lambda rec, req: (200, secrets_summary())),
    ("GET", r"/v1/account/queue", lambda rec, req: (200, {"runs": []})),
]


@dataclass
class Recorder:
    """The server's state: what arrived, and failures queued for the next matching requests."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    step: str = ""
    failures: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)
    overrides: list[tuple[str, str, Responder]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, path_regex: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``method`` request matching ``path_regex`` with ``status`` (once)."""
        with self.lock:
            self.failures.append((method, path_regex, status, headers or {}))

    def answer_with(self, method: str, path_regex: str, responder: Responder) -> None:
        """Answer ``method`` requests matching ``path_regex`` with ``responder`` instead of the canned route."""
        self.overrides.append((method, path_regex, responder))

    def by_step(self) -> dict[str, list[Recorded]]:
        out: dict[str, list[Recorded]] = {}
        for req in self.requests:
            out.setdefault(req.step, []).append(req)
        return out

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.step = ""

    def answer(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            for i, (method, pattern, status, headers) in enumerate(self.failures):
                if method == req.method and re.fullmatch(pattern, req.path):
                    del self.failures[i]
                    return status, {"error": f"scripted {status}"}, headers
        for method, pattern, responder in [*self.overrides, *ROUTES]:
            if method == req.method and re.fullmatch(pattern, req.path):
                status, body = responder(self, req)
                return status, body, {}
        return 404, {"error": f"no canned answer for {req.method} {req.path}"}, {}


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if parts.path.startswith(STEP_PREFIX):
                recorder.step = parts.path.removeprefix(STEP_PREFIX)
                self._send(200, {}, {})
                return
            req = Recorded(recorder.step, self.command, parts.path, parse_qs(parts.query),
                           {k.lower(): v for k, v in self.headers.items()}, body)
            with recorder.lock:
                recorder.requests.append(req)
            self._send(*recorder.answer(req))

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if raw:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """A running recorder; ``recorder.url`` is its base URL."""
    recorder = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    httpd.daemon_threads, httpd.block_on_close = True, False  # pooled client connections may stay open
    recorder.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="recorder", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

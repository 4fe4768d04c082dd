"""The official ``nextmv`` CLI (from the nextmv 1.13.0 SDK) drives Runyard non-interactively.

Covered: ``cloud app create``/``push`` (with version and instance), ``cloud run create``/``get``/
``logs``/``cancel`` and ``cloud batch create``/``get`` (plus ``cloud input-set create``, which a
batch experiment needs).

Why the server is reached over HTTPS here: the 1.13.0 CLI only talks to ``https://`` endpoints.
A profile's ``endpoint`` is always prefixed with ``https://`` (``retrieve_endpoint_from_config``),
and ``NEXTMV_ENDPOINT=http://…`` crashes every ``cloud`` command before it starts
(``cannot access local variable 'endpoint'``: ``_handle_env_vars_and_profile`` in
``nextmv/cli/main.py`` only assigns ``endpoint`` when the variable has no scheme). So the tests put
a small TLS front (a self-signed certificate trusted through ``REQUESTS_CA_BUNDLE``) before the
session's plain-HTTP ``runyard serve``; it forwards requests unchanged with
``X-Forwarded-Proto: https``, which uvicorn trusts from 127.0.0.1, so the server's upload and
download URLs come back as ``https://`` too.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .harness import LOG_MARKER, Server, Venv, copy_app, unique

pytestmark = pytest.mark.compat

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade",
              "proxy-connection"}
CLI_TIMEOUT = 300


# ------------------------------------------------------------------------------------------ TLS front


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (so it can be the trust bundle), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runyard-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _handler(backend: str) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(backend)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self._body()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-Proto"] = "https"
            headers["X-Forwarded-For"] = self.client_address[0]
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=CLI_TIMEOUT)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            finally:
                conn.close()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else None

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Forward


@dataclass
class HttpsFront:
    url: str
    host: str  # host:port, the form a Nextmv profile stores
    ca_bundle: Path


@pytest.fixture(scope="session")
def https_front(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsFront]:
    """``https://127.0.0.1:<port>`` forwarding to the session's plain-HTTP server."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server.url))
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, name="https-front", daemon=True)
    thread.start()
    host = f"127.0.0.1:{httpd.server_address[1]}"
    try:
        yield HttpsFront(f"https://{host}", host, cert)
    finally:
        httpd.shutdown()
        httpd.server_close()


# ------------------------------------------------------------------------------------- the CLI itself


@dataclass
class NextmvCli:
    """``nextmv …`` from the 1.13.0 venv, with its own HOME holding a ``config.yaml`` profile."""

    venv: Venv
    server: Server
    front: HttpsFront
    home: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "NEXTMV_"))}
        env.update(HOME=str(self.home), REQUESTS_CA_BUNDLE=str(self.front.ca_bundle), COLUMNS="200",
                   PATH=f"{self.venv.bin}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(self.venv.path),
                   NO_COLOR="1")
        return env

    def __call__(self, *args: str, expect: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.venv.bin / "nextmv"), *args], cwd=self.workdir, env={**self.env(), **(env or {})},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        if proc.returncode != expect:
            pytest.fail(f"nextmv {' '.join(args)} exited {proc.returncode} (expected {expect})\n"
                        f"---- stdout ----\n{proc.stdout[-4000:]}\n---- stderr ----\n{proc.stderr[-4000:]}\n"
                        f"{LOG_MARKER}\n{self.server.log_tail()}", pytrace=False)
        return proc

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Run and parse stdout as one JSON document."""
        out = self(*args, **kwargs).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            pytest.fail(f"nextmv {' '.join(args)}: stdout is not JSON:\n{out[-4000:]}", pytrace=False)


@pytest.fixture
def nextmv(sdk113_venv: Venv, server: Server, https_front: HttpsFront, tmp_path: Path) -> NextmvCli:
    """The official CLI with a default profile for the server (``endpoint`` without a scheme, as
    ``nextmv configuration create`` writes it)."""
    home = tmp_path / "home"
    (home / ".nextmv").mkdir(parents=True)
    (home / ".nextmv" / "config.yaml").write_text(f"apikey: {server.key}\nendpoint: {https_front.host}\n")
    return NextmvCli(sdk113_venv, server, https_front, home, tmp_path)


def _deploy(nextmv: NextmvCli, app_dir: Path) -> tuple[str, str]:
    app_id = unique("cli")
    nextmv("cloud", "app", "create", "--app-id", app_id)
    nextmv("cloud", "app", "push", "--app-id", app_id, "--app-dir", str(app_dir), "--version-id", "v1",
           "--create-instance-id", "i1")
    return app_id, "i1"


@pytest.fixture
def ctl_app(nextmv: NextmvCli, tmp_path: Path) -> tuple[str, str]:
    """The controllable JSON app pushed with ``nextmv cloud app push``: (app id, instance id)."""
    return _deploy(nextmv, copy_app("ctl-json", tmp_path / "apps"))


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"stops": [1, 2, 3]}))
    return path


def test_app_push_creates_version_and_instance(nextmv: NextmvCli, ctl_app: tuple[str, str], server: Server) -> None:
    app_id, instance_id = ctl_app
    assert nextmv.json("cloud", "app", "get", "--app-id", app_id)["id"] == app_id
    versions = server.api("GET", f"v1/applications/{app_id}/versions").json()
    assert [v["id"] for v in versions] == ["v1"]
    instance = server.api("GET", f"v1/applications/{app_id}/instances/{instance_id}").json()
    assert instance["version_id"] == "v1"


def test_run_create_get_logs(nextmv: NextmvCli, ctl_app: tuple[str, str], input_file: Path) -> None:
    app_id, instance_id = ctl_app
    created = nextmv.json("cloud", "run", "create", "--app-id", app_id, "--instance-id", instance_id,
                          "--input", str(input_file), "--options", "lines=3", "--options", "alpha=x")
    run_id = created["run_id"]

    result = nextmv.json("cloud", "run", "get", "--app-id", app_id, "--run-id", run_id, "--wait", "--timeout", "120")
    assert result["id"] == run_id and result["metadata"]["status_v2"] == "succeeded"
    assert result["output"]["solution"] == {"stops": [1, 2, 3]}
    assert result["output"]["options"]["alpha"] == "x"

    logs = nextmv("cloud", "run", "logs", "--app-id", app_id, "--run-id", run_id)
    assert "ctl-json: line 0" in logs.stderr and "ctl-json: line 2" in logs.stderr  # the CLI prints logs on stderr

    waited = nextmv.json("cloud", "run", "create", "--app-id", app_id, "--instance-id", instance_id,
                         "--input", str(input_file), "--wait", "--timeout", "120")
    assert waited["output"]["solution"] == {"stops": [1, 2, 3]}


def test_run_logs_tail_and_cancel(nextmv: NextmvCli, ctl_app: tuple[str, str], input_file: Path, server: Server) -> None:
    app_id, instance_id = ctl_app
    tailed = nextmv("cloud", "run", "create", "--app-id", app_id, "--instance-id", instance_id, "--input",
                    str(input_file), "--options", "lines=3", "--options", "sleep=0.6", "--tail", "--wait")
    assert "ctl-json: line 2" in tailed.stderr
    assert json.loads(tailed.stdout)["metadata"]["status_v2"] == "succeeded"

    run_id = nextmv.json("cloud", "run", "create", "--app-id", app_id, "--instance-id", instance_id,
                         "--input", str(input_file), "--options", "sleep=60")["run_id"]
    nextmv("cloud", "run", "cancel", "--app-id", app_id, "--run-id", run_id)
    info = server.api("GET", f"v1/applications/{app_id}/runs/{run_id}/metadata", params={"wait": 60}).json()
    assert info["metadata"]["status_v2"] == "canceled"


def test_batch_create_and_get(nextmv: NextmvCli, ctl_app: tuple[str, str], input_file: Path, server: Server) -> None:
    app_id, instance_id = ctl_app
    run_ids = []
    for _ in range(2):
        run_ids.append(nextmv.json("cloud", "run", "create", "--app-id", app_id, "--instance-id", instance_id,
                                   "--input", str(input_file))["run_id"])
    for run_id in run_ids:
        server.api("GET", f"v1/applications/{app_id}/runs/{run_id}/metadata", params={"wait": 60})
    input_set = nextmv.json("cloud", "input-set", "create", "--app-id", app_id, "--input-set-id", "set1",
                            *[a for r in run_ids for a in ("--run-ids", r)])
    input_ids = input_set["input_ids"]
    assert len(input_ids) == 2

    runs = json.dumps([{"input_id": i, "instance_id": instance_id, "input_set_id": "set1"} for i in input_ids])
    nextmv("cloud", "batch", "create", "--app-id", app_id, "--batch-experiment-id", "b1", "--input-set-id", "set1",
           "--runs", runs)
    batch = nextmv.json("cloud", "batch", "get", "--app-id", app_id, "--batch-experiment-id", "b1", "--wait",
                        "--timeout", "120")
    assert batch["id"] == "b1" and batch["status"] == "completed"
    assert batch["number_of_completed_runs"] == 2


def test_profile_and_environment_credentials(nextmv: NextmvCli, server: Server, https_front: HttpsFront) -> None:
    app_id = server.create_app()
    config = nextmv.home / ".nextmv" / "config.yaml"
    config.write_text(f"apikey: ry_wrong\nendpoint: {https_front.host}\n"
                      f"runyard:\n  apikey: {server.key}\n  endpoint: {https_front.host}\n")
    assert nextmv.json("cloud", "app", "get", "--app-id", app_id, "--profile", "runyard")["id"] == app_id
    assert nextmv.json("cloud", "app", "get", "--app-id", app_id, env={"NEXTMV_PROFILE": "runyard"})["id"] == app_id
    # NEXTMV_API_KEY and a scheme-less NEXTMV_ENDPOINT (which the CLI reads as https://) win over the profile
    env = {"NEXTMV_API_KEY": server.key, "NEXTMV_ENDPOINT": https_front.host}
    assert nextmv.json("cloud", "app", "get", "--app-id", app_id, env=env)["id"] == app_id
    assert "not authorized" in nextmv("cloud", "app", "get", "--app-id", app_id, expect=1).stderr  # the default profile


def test_http_endpoints_are_refused_by_the_cli_itself(nextmv: NextmvCli, server: Server) -> None:
    """Upstream limitation (nextmv 1.13.0), the reason for the TLS front: an ``http://`` (or any
    schemed) NEXTMV_ENDPOINT fails in the CLI before a request is made. If this starts passing, the
    CLI was fixed and these tests can talk to ``server.url`` directly."""
    failed = nextmv("cloud", "app", "list", expect=1, env={"NEXTMV_ENDPOINT": server.url, "NEXTMV_API_KEY": server.key})
    assert "cannot access local variable 'endpoint'" in failed.stdout + failed.stderr

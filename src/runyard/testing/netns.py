"""Network namespaces for a loopback-only cluster on one machine, and the bridges that reach into them.

Ray binds wildcard ports and probes for its own address. Started inside a namespace of its own that
holds only ``lo``, it is reachable from nowhere else; a bridge then forwards one port of this machine's
loopback to a port inside (the Ray client port), and, the other way, a port inside to an address out
here (an HTTP proxy the nodes use to reach the package index). Sockets keep the namespace they were
made in, so one process holds both ends: the inside sockets are made by a thread that entered the
namespace (``setns`` changes the calling thread only).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
_libc = ctypes.CDLL(None, use_errno=True)


class NetNamespace:
    """A named network namespace (``ip netns add``) with its loopback up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = NETNS_DIR / name

    @classmethod
    def create(cls, name: str) -> NetNamespace:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        return cls(name)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False, capture_output=True)

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace (and nothing else of this process's context changed)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def inside(self, make: Callable[[], socket.socket]) -> socket.socket:
        """A socket made by ``make`` inside the namespace."""
        result: list[socket.socket | BaseException] = []

        def enter_and_make() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns into {self.name}: {os.strerror(err)}")
                finally:
                    os.close(fd)
                result.append(make())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                result.append(exc)

        thread = threading.Thread(target=enter_and_make, name=f"netns-{self.name}")
        thread.start()
        thread.join()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]


def _listener(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes."""
    try:
        socks = [a, b]
        while True:
            readable, _, _ = select.select(socks, [], [], 60)
            for src in readable:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()


class _Acceptor:
    """Accepts on ``listener`` until closed, handing each connection to ``handle`` in a thread of its own."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.port = listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, name=f"{type(self).__name__.lower()}-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()

    def handle(self, client: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


class Bridge(_Acceptor):
    """Connects each connection accepted on ``listener`` with ``connect()``, copying both ways."""

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
        self._connect = connect
        super().__init__(listener)

    def handle(self, client: socket.socket) -> None:
        try:
            upstream = self._connect()
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _pipe(client, upstream)


def forward_in(ns: NetNamespace, target_port: int, *, port: int = 0) -> Bridge:
    """This machine's ``127.0.0.1:port`` (0: any free port) to ``127.0.0.1:target_port`` inside ``ns``."""
    return Bridge(_listener(port), lambda: ns.inside(lambda: socket.create_connection(("127.0.0.1", target_port))))


def forward_out(ns: NetNamespace, target: tuple[str, int], *, port: int = 0) -> Bridge:
    """``127.0.0.1:port`` inside ``ns`` to ``target`` out here."""
    return Bridge(ns.inside(lambda: _listener(port)), lambda: socket.create_connection(target))


class ConnectProxy(_Acceptor):
    """A minimal HTTP ``CONNECT`` proxy on this machine's loopback: what lets processes in a namespace
    reach a package index over HTTPS (through ``forward_out``) and nothing they are not sent to."""

    def __init__(self) -> None:
        super().__init__(_listener())

    def handle(self, client: socket.socket) -> None:
        self._serve(client)

    def _serve(self, client: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                data = client.recv(4096)
                if not data:
                    client.close()
                    return
                head += data
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(request_line) < 2 or request_line[0].upper() != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                client.close()
                return
            host, _, port = request_line[1].rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
            upstream.settimeout(None)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                client.close()
            return
        client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        _pipe(client, upstream)

"""Where a delivery may connect: the endpoint's name is resolved when the attempt is made, every address
is checked, and the connection goes to a checked address (so a name that changes what it resolves to
between the check and the connect, as in DNS rebinding, cannot slip through)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runyard.domain.webhooks import TargetRefused, check_url, refusal

Resolver = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now, in the system's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the URL: the Host header and the TLS server name
    port: int
    address: str  # the checked address the connection goes to

    def pinned_url(self, url: str) -> str:
        """``url`` with its host replaced by the checked address."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        addr = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{addr}:{parts.port}" if parts.port else addr
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def check_target(settings: Any, url: str, *, resolve: Resolver = system_resolve, strict_dns: bool = True) -> Target | None:
    """The address to connect to for ``url``; ``TargetRefused`` if any address it resolves to is not
    allowed. With ``strict_dns=False`` (at creation) a name that does not resolve yet passes."""
    scheme, host, port = check_url(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        if not strict_dns:
            return None
        raise TargetRefused(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise TargetRefused(f"{host} resolves to no address")
    for address in addresses:
        reason = refusal(address, allow_loopback=settings.allow_loopback, deny_private=settings.deny_private)
        if reason:
            raise TargetRefused(f"endpoint {host} refused: {reason}")
    return Target(scheme=scheme, host=host, port=port, address=addresses[0])

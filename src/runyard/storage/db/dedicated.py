"""Dedicated PostgreSQL connections, outside the pool: one that holds a session-level advisory lock, one
that LISTENs. Both must notice a dead peer in seconds, so TCP keepalives and a user timeout are set."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

CONNECT_TIMEOUT_SECONDS = 5
# A send the server does not acknowledge within this long fails the connection (instead of the kernel's
# retransmission schedule, about 15 minutes): a holder that lost its database learns it in seconds.
TCP_USER_TIMEOUT_MS = 3000


def libpq_url(database_url: str) -> str:
    """``database_url`` (a SQLAlchemy URL) as libpq takes it."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def connect(database_url: str, *, application_name: str) -> Any:
    """An autocommit psycopg connection of its own (not from the pool)."""
    import psycopg

    return psycopg.connect(
        libpq_url(database_url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name=application_name[:63], keepalives=1, keepalives_idle=5, keepalives_interval=1,
        keepalives_count=3, tcp_user_timeout=TCP_USER_TIMEOUT_MS,
    )


__all__ = ["connect", "libpq_url"]

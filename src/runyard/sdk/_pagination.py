"""Reading every page of a paginated listing (``pagereturn=true`` / ``next_page_token``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runyard.sdk._client import Client

MAX_PAGES = 10_000
"""A guard against a server that keeps answering with the same token."""


def iter_pages(client: Client, endpoint: str, items_key: str, query: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a listing, following ``next_page_token`` until the last page."""
    token: str | None = None
    for _ in range(MAX_PAGES):
        params = {**(query or {}), "pagereturn": "true", "pagetoken": token}
        body = client.request("GET", endpoint, query_params=params).json()
        if isinstance(body, list):  # a server that does not paginate answers with the bare array
            yield from body
            return
        yield from body.get(items_key) or []
        next_token = body.get("next_page_token")
        if not next_token or next_token == token:
            return
        token = next_token

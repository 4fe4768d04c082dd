"""Identifiers: generated ids look like ``run-k3x9q2ab`` (prefix, dash, 8 of [a-z0-9])."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


_UNBIASED = 256 - 256 % len(_ALPHABET)  # bytes from here on would favour the first characters: skipped


def new_id(prefix: str, length: int = 8) -> str:
    """A fresh random id with ``prefix``: each character uniform over ``_ALPHABET`` (from one read of
    the system's randomness, not one per character: an experiment makes hundreds at once)."""
    chars: list[str] = []
    while len(chars) < length:
        chars += [_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(length + 4) if b < _UNBIASED]
    return f"{prefix}-" + "".join(chars[:length])


def is_valid_user_id(value: str) -> bool:
    """Whether a caller-chosen id is acceptable (letters, digits, ``.``, ``_``, ``-``; at most 128)."""
    return bool(_USER_ID.match(value))

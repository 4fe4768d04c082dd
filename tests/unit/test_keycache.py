"""The brief trust in verified API keys (``services.keycache``): what may be kept and when it is not used."""

from __future__ import annotations

from runyard.services.keycache import ALL, KeyCache


def test_a_verification_older_than_a_revocation_is_not_kept() -> None:
    """A key read from the database just before another server revoked it, whose news arrived before the
    reader kept it: not kept (else it would be trusted for the whole lifetime)."""
    cache = KeyCache(60)
    generation = cache.generation  # the database read starts
    cache.forget("key-1")  # the revocation's news arrives meanwhile
    cache.put("key-1", "digest", "principal", generation=generation)
    assert cache.get("key-1") is None
    cache.put("key-1", "digest", "principal", generation=cache.generation)
    assert cache.get("key-1") == ("digest", "principal")


def test_nothing_is_trusted_while_revocations_cannot_arrive_nor_after_its_lifetime() -> None:
    listening = [True]
    cache = KeyCache(60)
    cache.trusted = lambda: listening[0]
    cache.put("key-1", "digest", "principal", generation=cache.generation)
    listening[0] = False  # the listener connection is down
    assert cache.get("key-1") is None
    listening[0] = True
    assert cache.get("key-1") == ("digest", "principal")
    expired = KeyCache(0)
    expired.put("key-1", "digest", "principal", generation=expired.generation)
    assert expired.get("key-1") is None


def test_a_revocation_is_forgotten_here_and_announced() -> None:
    announced: list[str] = []
    cache = KeyCache(60)
    cache.announce = announced.append
    for key in ("key-1", "key-2"):
        cache.put(key, "digest", key, generation=cache.generation)
    cache.revoked("key-1")
    assert cache.get("key-1") is None and cache.get("key-2") == ("digest", "key-2")
    cache.revoked()
    assert cache.get("key-2") is None and announced == ["key-1", ALL]

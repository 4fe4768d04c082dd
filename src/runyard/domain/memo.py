"""A bounded memo for facts that never change once known: an executable's blob key, a bundle's layout."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """A dict that starts over once it holds ``limit`` entries, so it never grows without bound; what it
    forgot is looked up again. Shared between threads it can at worst compute one value twice, which is
    harmless for values that are the same whoever computes them."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value

"""Generated ids: prefix, dash, lowercase letters and digits, each character uniform."""

from __future__ import annotations

import collections
import re
import string

from runyard.domain.ids import new_id


def test_new_id_has_the_prefix_the_length_and_the_alphabet() -> None:
    ids = {new_id("run", 12) for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"run-[a-z0-9]{12}", i) for i in ids)
    assert re.fullmatch(r"batch-[a-z0-9]{8}", new_id("batch"))


def test_new_id_characters_are_uniform() -> None:
    counts = collections.Counter("".join(new_id("x", 16)[2:] for _ in range(9000)))
    alphabet = string.ascii_lowercase + string.digits
    assert set(counts) == set(alphabet)
    expected = 9000 * 16 / len(alphabet)  # 4000 each; a byte taken modulo 36 without skipping gives the
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values())  # first 4 letters ~14 % more

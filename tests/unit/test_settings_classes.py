"""Execution classes as settings make them."""

from __future__ import annotations

from pathlib import Path

from runyard.settings import Settings


def test_shadow_candidates_get_a_class_of_their_own_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, execution={"default_class": "prod", "classes": {"prod": {"concurrency": 4}}})
    assert settings.execution.shadow_class == "shadow"
    assert settings.execution.classes["shadow"].concurrency == 2
    assert settings.execution.classes["shadow"].memory_mb == settings.execution.classes["prod"].memory_mb
    shared = Settings(data_dir=tmp_path, execution={"default_class": "prod", "classes": {"prod": {}}, "shadow_class": "prod"})
    assert set(shared.execution.classes) == {"prod"}

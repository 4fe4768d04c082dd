"""Bundles shaped like the official SDK's Python-native model pushes: the app first, then thousands of
bundled wheel files. Past its inline budget, activation answers as soon as the manifest is whole; the
rest of the archive is checked, digested and unpacked in the background."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from runyard.services import bundles

from .conftest import Api, make_bundle

MODEL_APP = {
    "app.yaml": "type: python\nfiles: [main.py, knapsack/**]\npython:\n  pip-requirements: model_requirements.txt\n"
                "  model:\n    name: knapsack\n    options: [{name: capacity, option_type: int, default: 12}]\n",
    "main.py": "print('{}')\n",
    "knapsack/MLmodel": "flavors: {}\n",
}


def _sdk_bundle(deps: int, tail: dict[str, str] | None = None) -> bytes:
    files: dict[str, bytes | str] = dict(MODEL_APP)
    for i in range(deps):
        files[f".nextmv/python/deps/pkg{i}/__init__.py"] = "x = 1\n"
    files[".nextmv/python/deps/pkg0-1.0.dist-info/METADATA"] = "Name: pkg0\nVersion: 1.0\n"
    files.update(tail or {})
    return make_bundle(files)


def _bundle_sha(database_url: str, app_id: str) -> str | None:
    engine = sa.create_engine(database_url)
    query = "SELECT b.sha256 FROM bundles b JOIN applications a ON a.latest_bundle_id = b.id WHERE a.id = :app"
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query), {"app": app_id}).scalar_one()
    finally:
        engine.dispose()


def test_activation_past_its_budget_answers_once_the_manifest_is_whole(api: Api, database_url: str, monkeypatch) -> None:
    api.new_app("model", push=False)
    hostile_tail = {"zz/../../escape.txt": "x"}  # after the manifest: only a whole scan sees it
    assert api.push("model", _sdk_bundle(600, hostile_tail)).status_code == 400  # within the budget: read to the end

    monkeypatch.setattr(bundles, "INLINE_SCAN_SECONDS", 0.0)
    monkeypatch.setattr(bundles, "_MANIFEST_EVERY", 16)
    assert api.push("model", _sdk_bundle(600, hostile_tail)).status_code == 200  # stopped once the manifest was whole
    api.new_app("clean", push=False)
    response = api.push("clean", _sdk_bundle(600))
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while _bundle_sha(database_url, "clean") is None:  # the background check records the digest
        assert time.monotonic() < deadline, "the archive's digest was never recorded"
        time.sleep(0.05)


def test_the_model_section_of_the_manifest_is_kept(api: Api, database_url: str) -> None:
    """The SDK's entry point reads ``python.model.name`` from the ``app.yaml`` a run is given."""
    api.new_app("kept", push=False)
    assert api.push("kept", _sdk_bundle(10)).status_code == 200
    engine = sa.create_engine(database_url)
    query = "SELECT b.manifest FROM bundles b JOIN applications a ON a.latest_bundle_id = b.id WHERE a.id = 'kept'"
    try:
        with engine.connect() as conn:
            manifest = conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()
    manifest = json.loads(manifest) if isinstance(manifest, str) else manifest
    assert manifest["python"]["model"] == {"name": "knapsack", "options": [
        {"name": "capacity", "option_type": "int", "default": 12}]}

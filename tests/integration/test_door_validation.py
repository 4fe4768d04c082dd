"""Validation at the door: what would fail every run is refused at push or submission, with a 400 that
names the field and no server path."""

from __future__ import annotations

import io
import tarfile

import pytest

from integration.conftest import ECHO_APP, Api, make_bundle

PY = {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}
MULTI = {**PY, "io_configuration": {"format": "multi-file", "multi_file": {"input_path": "inputs"}}}


@pytest.mark.parametrize(("requirements", "yaml", "field"), [
    ({**PY, "working_directory": "../.."}, None, "working_directory"),
    ({**PY, "working_directory": "/etc"}, None, "working_directory"),
    ({**MULTI, "io_configuration": {"format": "multi-file", "multi_file": {"input_path": "../../elsewhere"}}}, None,
     "multi_file.input_path"),
    ({**MULTI, "io_configuration": {"format": "multi-file", "multi_file": {
        "input_path": "inputs", "output_configuration": {"solutions_path": "../../../x"}}}}, None, "solutions"),
    (PY, "type: python\nfiles: [main.py]\nexecution:\n  cwd: sub/../../..\n", "execution.cwd"),
])
def test_a_manifest_path_leading_outside_the_app_is_refused_at_push(api: Api, server_settings, requirements, yaml,
                                                                    field) -> None:  # type: ignore[no-untyped-def]
    api.new_app("paths", push=False)
    files = {**ECHO_APP, "sub/keep.txt": "x"} if yaml is None else {**ECHO_APP, "app.yaml": yaml, "sub/keep.txt": "x"}
    r = api.push("paths", files, requirements)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert field in error and "outside the app" in error, error
    assert str(server_settings.data_dir.parent) not in error and "/tmp" not in error
    assert api.post("/v1/applications/paths/runs", json={"input": {}}).status_code == 409  # no executable


def test_paths_inside_the_app_still_push(api: Api) -> None:
    api.new_app("fine", push=False)
    r = api.push("fine", {**ECHO_APP, "sub/keep.txt": "x"}, {**PY, "working_directory": "sub/.."})
    assert r.status_code == 200, r.text


def _archive(members: list[tuple[str, str | None]]) -> bytes:
    """Members as (name, link target); ``None``: a small file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, link in members:
            info = tarfile.TarInfo(name)
            if link is None:
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("members", [
    [("d/f", None), ("d/up", ".."), ("escape", "d/up/..")],        # each link alone stays inside
    [("a", "."), ("a/b", ".."), ("a/b/c", None)],                  # a file written through a chain
    [("d1/d2/f", None), ("d1/d2/up2", "../.."), ("e", "d1/d2/up2/..")],
])
def test_an_input_archive_with_a_link_chain_is_refused_at_submission(api: Api, client, members) -> None:  # type: ignore[no-untyped-def]
    api.new_app("chains", push=False)
    assert api.push("chains", ECHO_APP, MULTI).status_code == 200
    slot = api.post("/v1/applications/chains/runs/uploadurl").json()
    assert client.put(slot["upload_url"], content=_archive(members)).status_code == 200
    r = api.post("/v1/applications/chains/runs", json={"upload_id": slot["upload_id"]})
    assert r.status_code == 400, r.text
    assert "leads out of the archive" in r.json()["error"]
    assert api.get("/v1/applications/chains/runs").json()["runs"] == []


def test_links_that_stay_inside_are_accepted(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("links", push=False)
    assert api.push("links", ECHO_APP, MULTI).status_code == 200
    slot = api.post("/v1/applications/links/runs/uploadurl").json()
    body = _archive([("d/f", None), ("d/up", ".."), ("alias", "d/up/d/f")])
    assert client.put(slot["upload_url"], content=body).status_code == 200
    assert api.post("/v1/applications/links/runs", json={"upload_id": slot["upload_id"]}).status_code == 200


def test_the_unpack_filter_names_no_server_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from runyard.domain.errors import UnsafeArchive
    from runyard.storage import archives

    body = make_bundle({"ok.txt": "x"})
    assert archives.safe_extract(body, tmp_path / "out") == ["ok.txt"]
    with pytest.raises(UnsafeArchive) as caught:
        archives.safe_extract(_archive([("d/up", ".."), ("escape", "d/up/..")]), tmp_path / "out2")
    assert str(tmp_path) not in caught.value.message

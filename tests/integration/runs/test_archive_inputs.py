"""Multi-file (and csv-archive) inputs: uploaded tar.gz archives are checked when the run is submitted."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from .apps import MULTI_FILE_APP
from .conftest import list_run_ids, new_tool_app, run_log, wait_status

UNIQUE = "escaped-" + uuid.uuid4().hex[:8]
MAX_FILES = 100
MAX_BYTES = 8 * 1024 * 1024


class _Zeros(io.RawIOBase):
    """``n`` zero bytes, read lazily (a bomb's payload is never held in memory)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def tar_gz(files: dict[str, bytes | int] | None = None, links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A tar.gz with member names used verbatim; an int payload is that many zero bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (files or {}).items():
            info = tarfile.TarInfo(name)
            info.size = data if isinstance(data, int) else len(data)
            tar.addfile(info, _Zeros(data) if isinstance(data, int) else io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buf.getvalue()


ABSOLUTE = f"/tmp/{UNIQUE}/abs.txt"
# case -> (archive factory, the problem the 400 names); built lazily, the bomb takes a moment to compress.
BAD_ARCHIVES: dict[str, tuple[Callable[[], bytes], str]] = {
    "dotdot": (lambda: tar_gz({f"../../../../{UNIQUE}": b"x"}), "contains '..'"),
    "nested-dotdot": (lambda: tar_gz({"ok.txt": b"1", f"sub/../../{UNIQUE}": b"x"}), "contains '..'"),
    "absolute": (lambda: tar_gz({ABSOLUTE: b"x"}), "absolute path"),
    "symlink-out": (lambda: tar_gz(links={"link": (tarfile.SYMTYPE, f"../../../{UNIQUE}")}), "leads out of the archive"),
    "symlink-absolute": (lambda: tar_gz(links={"link": (tarfile.SYMTYPE, "/etc/passwd")}), "points to an absolute path"),
    "hardlink-absolute": (lambda: tar_gz(links={"hard": (tarfile.LNKTYPE, "/etc/passwd")}), "points to an absolute path"),
    # 128 MiB of zeros compress to ~130 KB: rejected on the member's declared size, before inflating it.
    "gzip-bomb": (lambda: tar_gz({"bomb.bin": 128 * 1024 * 1024}), f"unpacks to more than {MAX_BYTES} bytes"),
    "many-small": (lambda: tar_gz({f"f{i}.txt": b"" for i in range(MAX_FILES + 1)}), f"more than {MAX_FILES} members"),
    "not-a-tar": (lambda: b"this is not an archive", "not a readable tar archive"),
}


@pytest.fixture
def multi_file_api(start_server):  # type: ignore[no-untyped-def]
    api = start_server(limits={"archive_max_files": MAX_FILES, "archive_max_bytes": MAX_BYTES})
    new_tool_app(api, "mf", MULTI_FILE_APP)
    return api


def upload(api, data: bytes) -> str:  # type: ignore[no-untyped-def]
    slot = api.post("/v1/applications/mf/runs/uploadurl").json()
    assert api.client.put(slot["upload_url"], content=data).status_code == 200
    return slot["upload_id"]


def new_run(api, upload_id: str, fmt: str = "multi-file"):  # type: ignore[no-untyped-def]
    body = {"upload_id": upload_id, "configuration": {"format": {"input": {"type": fmt}}}}
    return api.post("/v1/applications/mf/runs", json=body)


def test_a_good_archive_reaches_the_app(multi_file_api) -> None:  # type: ignore[no-untyped-def]
    api = multi_file_api
    response = new_run(api, upload(api, tar_gz({"a.json": b'{"k": 1}', "sub/b.csv": b"x,y\n1,2\n"})))
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    meta = wait_status(api, "mf", run_id)
    assert meta["status_v2"] == "succeeded", run_log(api, "mf", run_id)
    assert meta["format"]["input"]["type"] == "multi-file"
    url = api.get(f"/v1/applications/mf/runs/{run_id}/output", params={"format": "url"}).json()["url"]
    with tarfile.open(fileobj=io.BytesIO(api.client.get(url).content), mode="r:gz") as tar:
        listing = json.load(tar.extractfile("listing.json"))  # type: ignore[arg-type]
    assert listing == {"a.json": '{"k": 1}', "sub/b.csv": "x,y\n1,2\n"}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_an_unsafe_archive_is_rejected_at_submission(multi_file_api, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    api = multi_file_api
    make, problem = BAD_ARCHIVES[case]
    before = list_run_ids(api, "mf")
    response = new_run(api, upload(api, make()))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "uploaded multi-file input is rejected" in error and problem in error, error
    assert list_run_ids(api, "mf") == before
    # The archive was never unpacked anywhere.
    assert not Path(ABSOLUTE).parent.exists()
    assert not (Path("/") / UNIQUE).exists()
    assert list(tmp_path.rglob(f"{UNIQUE}*")) == []


def test_csv_archive_inputs_are_checked_too(multi_file_api) -> None:  # type: ignore[no-untyped-def]
    make, problem = BAD_ARCHIVES["dotdot"]
    response = new_run(multi_file_api, upload(multi_file_api, make()), fmt="csv-archive")
    assert response.status_code == 400 and problem in response.json()["error"]


def test_an_inline_archive_input_is_refused(multi_file_api) -> None:  # type: ignore[no-untyped-def]
    body = {"input": {"a": 1}, "configuration": {"format": {"input": {"type": "multi-file"}}}}
    response = multi_file_api.post("/v1/applications/mf/runs", json=body)
    assert response.status_code == 400 and "upload_id" in response.json()["error"]
